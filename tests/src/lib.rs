//! End-to-end tests live in `tests/`: they run `cyxcloud dev` (a gateway and 14 nodes as
//! processes) and drive it with the `cyxcloud` CLI and a standard S3 client.
