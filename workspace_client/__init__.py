"""The only code that talks to Google's APIs: `client` (the request choke point, the Workspace
Events API), `chat`, `meet` and `drive_activity` (replays), `credentials` (per subscription),
`errors` (typed, transient or permanent), `models`.

Importing any of them is cheap and needs no credentials: googleapiclient, httplib2 and the
google.auth credential classes are imported only when a client is built or a request is sent.
"""
