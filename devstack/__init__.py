"""The real local stack: the official Firestore and Pub/Sub emulators, the Workspace Events
API emulator and the function, started as child processes for the local run and the tests."""
