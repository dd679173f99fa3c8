"""pytest plugin of modelsec (fixtures wired to the local emulator)."""
