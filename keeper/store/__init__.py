"""The store (the record, a cache of Google's view): the protocol, Firestore, in memory."""
