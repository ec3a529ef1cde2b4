"""The only code that talks to the Google Workspace Events API (and, for replays, the Chat
API): `client` (one typed method per REST method, the request choke point, LRO polling),
`chat`, `credentials` (per subscription), `errors` (typed, transient or permanent), `models`.

Importing any of them is cheap and needs no credentials: googleapiclient, httplib2 and the
google.auth credential classes are imported only when a client is built or a request is sent.
"""
