"""Built-in explainer ``text``: attributions over the words or sentences of documents.

SHAP's partition explainer over text units for any model that takes strings, captum's
layer integrated gradients on the embedding for torch models that take token ids; LIME
as a second opinion, deletion/insertion curves, sanity and completeness checks, and the
files (per-document attributions, a highlighted HTML page, global term importance).
"""
