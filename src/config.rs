//! Hardware YAML: span definitions.
