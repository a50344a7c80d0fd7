"""Test kit for providers: `StackHarness` drives the engine on a stack file, and
`ProviderContract` is the suite every provider (ours or a third party's) must pass against its
emulator. See `ProviderContract` for how to use it."""
