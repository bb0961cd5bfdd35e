// Package rest holds the curated OpenAPI 2.0 spec of the ONTAP REST API subset that
// snapmirror-csi uses (swagger.yaml), and the client (./client) and models (./models) that
// go-swagger generates from it with `make generate`. The generated code is committed; `make
// verify` fails when it drifts from the spec. Use it through package ontap, never directly.
package rest
