// Google's Node client (@googleapis/workspaceevents), unchanged, against the emulator at
// argv[2] with the bearer token argv[3] and the Pub/Sub topic argv[4]: create, get, list,
// renew, an ALREADY_EXISTS, delete. Prints one JSON object of what it saw, for the test to
// assert (tests/emulator/test_node_client.py).
import {workspaceevents} from '@googleapis/workspaceevents';

const [rootUrl, token, topic] = process.argv.slice(2);
const api = workspaceevents({version: 'v1', rootUrl});
const options = {headers: {Authorization: `Bearer ${token}`}};
const target = '//chat.googleapis.com/spaces/NODECLIENT';
const eventType = 'google.workspace.chat.message.v1.created';
const body = {
  targetResource: target,
  eventTypes: [eventType],
  notificationEndpoint: {pubsubTopic: topic},
};

const created = (await api.subscriptions.create({requestBody: body}, options)).data;
const name = created.response.name;
const got = (await api.subscriptions.get({name}, options)).data;
const listed = (
  await api.subscriptions.list(
    {filter: `event_types:"${eventType}" AND target_resource="${target}"`},
    options,
  )
).data;
const renewed = (
  await api.subscriptions.patch(
    {name, updateMask: 'ttl', requestBody: {ttl: '0s'}},
    options,
  )
).data;
let conflict = null;
try {
  await api.subscriptions.create({requestBody: body}, options);
} catch (error) {
  conflict = {status: error.response.status, error: error.response.data.error};
}
const deleted = (
  await api.subscriptions.delete({name, etag: renewed.response.etag}, options)
).data;
const operation = (await api.operations.get({name: deleted.name}, options)).data;
console.log(JSON.stringify({created, got, listed, renewed, conflict, deleted, operation}));
