//! mote-oci: OCI images for micro-containers.
