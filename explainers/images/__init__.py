"""Built-in explainer ``images``: attributions for image models, with their quality.

Integrated Gradients (or GradientSHAP) for torch modules, KernelSHAP over SLIC
superpixels for any other model, LIME on the same superpixels as a second opinion, and
the figures that say how far to trust the maps: completeness, deletion and insertion
against a random order under two replacement values, and a parameter-randomisation
sanity check. The plugin module is :mod:`mlflow_clarity.explainers.images.step`.
"""
