"""The sandbox's Vertex AI emulator: the Vertex AI REST v1 API (`server.VertexEmulator`).

Found through the `mlops_gitops.emulators` entry point `vertex`. Kept apart from the provider
package (`mlops_vertex`), which never imports it: a provider talks to its emulator over HTTP like
to the cloud. The one thing shared is the catalogue of machine types (`mlops_vertex.machines`,
pure data), so that the emulator refuses exactly what the provider's offline checks refuse.
Importing this package imports no Google library."""
