"""Dataset export formats: streaming writers over plain data (no Django).

`exports.model` holds what an export carries (images, findings with their marks, exam and
breast labels, the label map); each writer module turns it into one standard format as a
generator of chunks, so a large export is never held in memory whole. docs/exports.md lists
the formats and the codes they use.
"""
