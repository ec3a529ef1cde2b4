#!/usr/bin/env bash
# Deploy the Workspace subscription keeper to a Google Cloud project, idempotently.
#
#   deploy/deploy.sh [--env-file FILE] [--push-filter | --eventarc] [--source DIR] [--dry-run]
#
# --env-file FILE  the configuration (default: deploy/keeper.env, or $KEEPER_ENV_FILE);
#                  start from deploy/keeper.env.example
# --push-filter    the default: only lifecycle events invoke the event function, through a
#                  Pub/Sub push subscription on the app's topic filtered to them (PUSH_FILTER=true)
# --eventarc       the older mode: an Eventarc trigger on the app's topic, so every message
#                  on it invokes the function (PUSH_FILTER=false); deploy/README.md says when
#                  to pick it
# --source DIR     the code to deploy (default: this repository)
# --dry-run        print every gcloud command, one a line, shell-quoted; run none
#
# Every step checks before it creates, so running it again converges; see deploy/README.md.
# At the end it writes the operator's settings for `python -m keeper` to deploy/operator.env
# (OPERATOR_ENV_FILE), to be read with `set -a; . deploy/operator.env; set +a`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
source "$here/lib.sh"

usage() {
  # the comment block at the top of this file
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

parse_common_args "$@"
mode_flag=""
set_mode() {
  [[ -z $mode_flag || $mode_flag == "$1" ]] || die "--push-filter and --eventarc: pick one"
  mode_flag=$1
}
SOURCE_DIR=""
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case $1 in
    --push-filter) set_mode true ;;
    --eventarc) set_mode false ;;
    --source) [[ $# -ge 2 ]] || die "--source needs a directory"; SOURCE_DIR=$2; shift ;;
    --source=*) SOURCE_DIR=${1#--source=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

load_env "$here/keeper.env"
[[ -n $mode_flag ]] && PUSH_FILTER=$mode_flag
SOURCE_DIR=${SOURCE_DIR:-$(cd "$here/.." && pwd)}
[[ -f $SOURCE_DIR/main.py && -f $SOURCE_DIR/requirements.txt ]] ||
  die "$SOURCE_DIR has no main.py and requirements.txt to deploy"
command -v python3 >/dev/null || die "python3 is needed (it renders the monitoring files)"
if [[ $DRY_RUN == false ]]; then
  command -v gcloud >/dev/null || die "the Google Cloud CLI (gcloud) is needed"
fi

# Rendered monitoring files. A dry run keeps them (the commands it prints refer to them).
if [[ -n ${KEEPER_RENDER_DIR:-} ]]; then
  render_dir=$KEEPER_RENDER_DIR
  mkdir -p "$render_dir"
else
  render_dir=$(mktemp -d "${TMPDIR:-/tmp}/keeper-deploy.XXXXXX")
  [[ $DRY_RUN == true ]] || trap 'rm -rf "$render_dir"' EXIT
fi

step() {
  note ""
  note "== $*"
}

member() {
  printf 'serviceAccount:%s' "$1"
}

# The keeper's configuration (keeper/runtime/config.py reads it once at start), NAME=value a
# line: the functions' environment, and the operator's settings in OPERATOR_ENV_FILE, so
# `python -m keeper` runs with what the functions run with.
keeper_env() {
  local vars=(
    "GOOGLE_CLOUD_PROJECT=$PROJECT_ID"
    "WORKSPACE_EVENTS_API_ENDPOINT=$WORKSPACE_EVENTS_API_ENDPOINT"
    "KEEPER_CHAT_API_ENDPOINT=$KEEPER_CHAT_API_ENDPOINT"
    "KEEPER_MEET_API_ENDPOINT=$KEEPER_MEET_API_ENDPOINT"
    "KEEPER_DRIVE_ACTIVITY_API_ENDPOINT=$KEEPER_DRIVE_ACTIVITY_API_ENDPOINT"
    "KEEPER_FIX_TOPIC_IAM=$KEEPER_FIX_TOPIC_IAM"
    "KEEPER_CHAT_PUSH_SERVICE_ACCOUNT=$KEEPER_CHAT_PUSH_SERVICE_ACCOUNT"
    "KEEPER_COLLECTION_PREFIX=$KEEPER_COLLECTION_PREFIX"
    "KEEPER_LEDGER_TTL_DAYS=$KEEPER_LEDGER_TTL_DAYS"
    "KEEPER_ALERTS_TOPIC=$ALERTS_TOPIC_PATH"
    "KEEPER_SWEEP_TOPIC=$SWEEP_TOPIC_PATH"
    "KEEPER_DEAD_LETTER_SUBSCRIPTION=$DEAD_LETTER_SUBSCRIPTION_PATH"
  )
  if [[ -n $NOTICES_TOPIC_PATH ]]; then
    vars+=("KEEPER_NOTICES_TOPIC=$NOTICES_TOPIC_PATH")
  fi
  local extra
  for extra in ${EXTRA_ENV_VARS:-}; do
    vars+=("$extra")
  done
  printf '%s\n' "${vars[@]}"
}

# The functions' --set-env-vars: the keeper's configuration, and execution ids in the logs.
env_vars() {
  local joined="LOG_EXECUTION_ID=true" v
  while IFS= read -r v; do
    [[ $v == *,* ]] && die "environment values may not contain commas: $v"
    joined+=",$v"
  done < <(keeper_env)
  printf '%s' "$joined"
}

# The operator's settings file: the keeper's configuration, shell-quoted where needed.
operator_env() {
  local v
  printf '%s\n' "# The keeper deployed by deploy/deploy.sh from $ENV_FILE (each deploy rewrites it)." \
    "# For python -m keeper, in a shell without the local stack's emulator variables:" \
    "#   set -a; . $(shown_path "$OPERATOR_ENV_FILE"); set +a"
  while IFS= read -r v; do
    printf '%s=%s\n' "${v%%=*}" "$(quote_word "${v#*=}")"
  done < <(keeper_env)
}

# A path as the user can type it from here: relative when it is under the current directory.
shown_path() {
  printf '%s' "${1#"$PWD"/}"
}

ensure_topic() {
  if ! exists gcloud pubsub topics describe "$1" "$P"; then
    run gcloud pubsub topics create "$1" "$P"
  fi
}

ensure_service_account() {
  local name=$1 email=$2 display=$3
  if ! exists gcloud iam service-accounts describe "$email" "$P"; then
    run gcloud iam service-accounts create "$name" --display-name="$display" "$P"
  fi
}

# Least privilege for the endpoint check (keeper/engine/endpoint.py): read the topic and its IAM
# policy. roles/pubsub.viewer has pubsub.topics.get but not pubsub.topics.getIamPolicy.
ensure_topic_inspector_role() {
  local role=$TOPIC_INSPECTOR_ROLE
  local deleted
  deleted=$(capture "" gcloud iam roles describe "$role" "$P" --format='value(deleted)' 2>/dev/null || true)
  if [[ $deleted == True ]]; then
    run gcloud iam roles undelete "$role" "$P"
  fi
  # shellcheck disable=SC2054  # the commas separate permissions inside one argument
  local spec=(--title="Workspace keeper topic inspector"
    --description="Read a Pub/Sub topic and its IAM policy (the keeper's endpoint check)"
    --permissions=pubsub.topics.get,pubsub.topics.getIamPolicy --stage=GA)
  if exists gcloud iam roles describe "$role" "$P"; then
    run gcloud iam roles update "$role" "${spec[@]}" "$P"
  else
    run gcloud iam roles create "$role" "${spec[@]}" "$P"
  fi
}

topic_binding_exists() {
  local topic=$1 who=$2 role=$3 found
  found=$(capture "" gcloud pubsub topics get-iam-policy "$topic" "$P" \
    --flatten='bindings[].members' \
    --filter="bindings.role=$role AND bindings.members=$who" \
    --format='value(bindings.role)')
  [[ -n $found ]]
}

# ---------------------------------------------------------------------------------------------
note "Deploying the Workspace subscription keeper to $PROJECT_ID ($REGION) from $ENV_FILE"
if [[ $DRY_RUN == true ]]; then
  note "dry run: printing the gcloud commands, running none. Each 'describe' is an existence"
  note "check, answered 'absent' here, so every create shows; a real run skips what exists."
fi
if [[ $PUSH_FILTER == true ]]; then
  note "delivery: a push subscription filtered to lifecycle events; only they invoke $EVENT_FUNCTION"
else
  note "delivery (--eventarc, PUSH_FILTER=false): an Eventarc trigger; every message on $TOPIC"
  note "invokes $EVENT_FUNCTION. The default push filter invokes it for lifecycle events only."
fi

# The database's location is permanent: asked for, never guessed from REGION.
if [[ -z $FIRESTORE_LOCATION ]] &&
  ! exists gcloud firestore databases describe --database="$FIRESTORE_DATABASE" "$P"; then
  die "set FIRESTORE_LOCATION in $ENV_FILE: the project has no Firestore database" \
    "$FIRESTORE_DATABASE yet, and where it is created (a multi-region such as nam5 or eur3," \
    "or a region such as $REGION) can never be changed"
fi

step "APIs"
# The Chat, Meet REST and Drive Activity APIs: replays of missed events read them.
run gcloud services enable \
  workspaceevents.googleapis.com chat.googleapis.com meet.googleapis.com \
  driveactivity.googleapis.com cloudfunctions.googleapis.com run.googleapis.com \
  eventarc.googleapis.com pubsub.googleapis.com firestore.googleapis.com \
  cloudscheduler.googleapis.com iamcredentials.googleapis.com secretmanager.googleapis.com \
  logging.googleapis.com monitoring.googleapis.com cloudbuild.googleapis.com \
  artifactregistry.googleapis.com iam.googleapis.com "$P"

step "Pub/Sub topics: events (the app's), dead letter, alerts, sweep, notices (if set)"
ensure_topic "$TOPIC"
ensure_topic "$DEAD_LETTER_TOPIC"
ensure_topic "$ALERTS_TOPIC"
ensure_topic "$SWEEP_TOPIC"
# The notices topic is created like TOPIC when it is in this project; in another, by its owner.
if [[ -n $NOTICES_TOPIC && $NOTICES_TOPIC != */* ]]; then
  ensure_topic "$NOTICES_TOPIC"
fi
# A topic without a subscription drops what is published to it: keep dead letters 7 days.
if ! exists gcloud pubsub subscriptions describe "$DEAD_LETTER_SUBSCRIPTION" "$P"; then
  run gcloud pubsub subscriptions create "$DEAD_LETTER_SUBSCRIPTION" \
    --topic="$DEAD_LETTER_TOPIC" --message-retention-duration=7d --expiration-period=never "$P"
fi

step "Firestore: database, indexes, TTL on the event ledger"
if ! exists gcloud firestore databases describe --database="$FIRESTORE_DATABASE" "$P"; then
  run gcloud firestore databases create --database="$FIRESTORE_DATABASE" \
    --location="$FIRESTORE_LOCATION" --type=firestore-native "$P"
fi
mapfile -t index_commands < <(python3 "$here/render.py" firestore "$here/firestore.indexes.json")
for line in "${index_commands[@]+"${index_commands[@]}"}"; do
  IFS=$'\x1f' read -r -a args <<<"$line"
  if [[ ${args[2]} == composite ]]; then
    run_tolerant gcloud "${args[@]}" "$P" # fails with ALREADY_EXISTS on a second run
  else
    run gcloud "${args[@]}" "$P"
  fi
done

step "Service accounts: the functions' runtime identity, and the invoker Pub/Sub pushes as"
ensure_service_account "$SERVICE_ACCOUNT" "$SA_EMAIL" "Workspace subscription keeper (runtime)"
ensure_service_account "$INVOKER_SERVICE_ACCOUNT" "$INVOKER_EMAIL" \
  "Workspace subscription keeper (invoker for Pub/Sub and Eventarc)"

step "IAM for the runtime service account (each role: deploy/README.md)"
run_retry gcloud projects add-iam-policy-binding "$PROJECT_ID" \
  --member="$(member "$SA_EMAIL")" --role=roles/datastore.user --condition=None "$P"
for topic in "$DEAD_LETTER_TOPIC" "$ALERTS_TOPIC" "$SWEEP_TOPIC" ${NOTICES_TOPIC_PATH:+"$NOTICES_TOPIC_PATH"}; do
  run_retry gcloud pubsub topics add-iam-policy-binding "$topic" \
    --member="$(member "$SA_EMAIL")" --role=roles/pubsub.publisher "$P"
done
# Operators run `python -m keeper dead-letters` as the keeper (deploy/README.md, After a deploy).
run_retry gcloud pubsub subscriptions add-iam-policy-binding "$DEAD_LETTER_SUBSCRIPTION" \
  --member="$(member "$SA_EMAIL")" --role=roles/pubsub.subscriber "$P"
run_retry gcloud iam service-accounts add-iam-policy-binding "$SA_EMAIL" \
  --member="$(member "$SA_EMAIL")" --role=roles/iam.serviceAccountTokenCreator "$P"
for operator in $OPERATORS; do
  # People who run `python -m keeper` as the keeper (ADC impersonating keeper-runtime).
  run_retry gcloud iam service-accounts add-iam-policy-binding "$SA_EMAIL" \
    --member="$operator" --role=roles/iam.serviceAccountTokenCreator "$P"
done
for secret in $SECRETS; do
  run_retry gcloud secrets add-iam-policy-binding "$secret" \
    --member="$(member "$SA_EMAIL")" --role=roles/secretmanager.secretAccessor "$P"
done
ensure_topic_inspector_role
run_retry gcloud pubsub topics add-iam-policy-binding "$TOPIC" --member="$(member "$SA_EMAIL")" \
  --role="projects/$PROJECT_ID/roles/$TOPIC_INSPECTOR_ROLE" "$P"
if [[ $KEEPER_FIX_TOPIC_IAM == true ]]; then
  # setIamPolicy on the topic, to grant the app's push account; roles/pubsub.admin is the
  # narrowest predefined role with pubsub.topics.setIamPolicy. On this topic only.
  run_retry gcloud pubsub topics add-iam-policy-binding "$TOPIC" \
    --member="$(member "$SA_EMAIL")" --role=roles/pubsub.admin "$P"
elif topic_binding_exists "$TOPIC" "$(member "$SA_EMAIL")" roles/pubsub.admin; then
  # The auto-fix was switched off since the last deploy: take the grant back.
  run gcloud pubsub topics remove-iam-policy-binding "$TOPIC" \
    --member="$(member "$SA_EMAIL")" --role=roles/pubsub.admin "$P"
fi
for account in $PUSH_PUBLISHERS; do
  # The Workspace app's push account publishes the events (Chat, Drive, Meet).
  run_retry gcloud pubsub topics add-iam-policy-binding "$TOPIC" \
    --member="$(member "$account")" --role=roles/pubsub.publisher "$P"
done

step "IAM for the Pub/Sub service agent: dead-lettering, and OIDC tokens for authenticated push"
number=$(project_number)
pubsub_agent="service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
run_retry gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" \
  --member="$(member "$pubsub_agent")" --role=roles/pubsub.publisher "$P"
run_retry gcloud iam service-accounts add-iam-policy-binding "$INVOKER_EMAIL" \
  --member="$(member "$pubsub_agent")" --role=roles/iam.serviceAccountTokenCreator "$P"

step "Functions (2nd gen): on_workspace_event and on_sweep, not publicly invocable"
common=(--gen2 --region="$REGION" --runtime=python311 --source="$SOURCE_DIR"
  --ignore-file=deploy/gcloudignore --service-account="$SA_EMAIL" --memory="$MEMORY"
  --cpu="$CPU" --set-env-vars="$(env_vars)" --ingress-settings="$INGRESS"
  --no-allow-unauthenticated)
if [[ -n ${BUILD_SERVICE_ACCOUNT:-} ]]; then
  common+=(--build-service-account="projects/$PROJECT_ID/serviceAccounts/$BUILD_SERVICE_ACCOUNT")
fi
# A 2nd gen function keeps its trigger kind: switching between --push-filter and the Eventarc
# trigger needs the old function deleted first (teardown.sh --only-event-function).
if exists gcloud functions describe "$EVENT_FUNCTION" --gen2 --region="$REGION" "$P"; then
  current_trigger=$(capture "" gcloud functions describe "$EVENT_FUNCTION" --gen2 --region="$REGION" \
    --format='value(eventTrigger.eventType)' "$P")
  if [[ $PUSH_FILTER == true && -n $current_trigger ]]; then
    die "$EVENT_FUNCTION exists with an Eventarc trigger (the older mode). To keep it, deploy" \
      "with --eventarc (or PUSH_FILTER=false); to switch to the push filter, run" \
      "deploy/teardown.sh --only-event-function first (deploy/README.md, Delivery)"
  elif [[ $PUSH_FILTER == false && -z $current_trigger ]]; then
    die "$EVENT_FUNCTION exists behind the push filter. To keep it, deploy without --eventarc;" \
      "to switch to an Eventarc trigger, run deploy/teardown.sh --only-event-function first"
  fi
fi
if [[ $PUSH_FILTER == true ]]; then
  event_trigger=(--trigger-http)
else
  event_trigger=(--trigger-topic="$TOPIC" --trigger-service-account="$INVOKER_EMAIL" --retry)
fi
run gcloud functions deploy "$EVENT_FUNCTION" "${common[@]}" \
  --entry-point=on_workspace_event "${event_trigger[@]}" \
  --concurrency="$CONCURRENCY" --max-instances="$MAX_INSTANCES" --timeout="$EVENT_TIMEOUT" "$P"
# No --retry: a tick or shard that fails leaves its work due, and the next tick gathers it.
# One sweep per instance (each paces its share of the API quota); shards run side by side.
run gcloud functions deploy "$SWEEP_FUNCTION" "${common[@]}" \
  --entry-point=on_sweep --trigger-topic="$SWEEP_TOPIC" \
  --trigger-service-account="$INVOKER_EMAIL" \
  --concurrency=1 --max-instances="$SWEEP_MAX_INSTANCES" --timeout="$SWEEP_TIMEOUT" "$P"
for service in "$EVENT_FUNCTION" "$SWEEP_FUNCTION"; do
  run_retry gcloud run services add-iam-policy-binding "$service" --region="$REGION" \
    --member="$(member "$INVOKER_EMAIL")" --role=roles/run.invoker "$P"
done

step "Delivery of the app's topic to on_workspace_event, with a dead-letter topic"
retry_policy=(--dead-letter-topic="$DEAD_LETTER_TOPIC_PATH"
  --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" --min-retry-delay=10s --max-retry-delay=600s)
if [[ $PUSH_FILTER == true ]]; then
  url=$(capture "https://$EVENT_FUNCTION-$number.$REGION.run.app" \
    gcloud functions describe "$EVENT_FUNCTION" --gen2 --region="$REGION" \
    --format='value(serviceConfig.uri)' "$P")
  # functions-framework takes the CloudEvent's source topic from the push URL's path.
  push=(--push-endpoint="$url/projects/$PROJECT_ID/topics/$TOPIC"
    --push-auth-service-account="$INVOKER_EMAIL" --push-auth-token-audience="$url"
    --ack-deadline="${EVENT_TIMEOUT%s}" "${retry_policy[@]}")
  if exists gcloud pubsub subscriptions describe "$PUSH_SUBSCRIPTION" "$P"; then
    # A subscription's filter is fixed at creation; everything else converges here.
    run gcloud pubsub subscriptions update "$PUSH_SUBSCRIPTION" "${push[@]}" "$P"
  else
    run gcloud pubsub subscriptions create "$PUSH_SUBSCRIPTION" --topic="$TOPIC" \
      --message-filter='hasPrefix(attributes.ce-type, "google.workspace.events.subscription.")' \
      "${push[@]}" "$P"
  fi
  delivery_subscription="projects/$PROJECT_ID/subscriptions/$PUSH_SUBSCRIPTION"
else
  # The Eventarc trigger made its own push subscription; give it the dead-letter policy.
  trigger=$(capture "projects/$PROJECT_ID/locations/$REGION/triggers/TRIGGER_ID" \
    gcloud functions describe "$EVENT_FUNCTION" --gen2 --region="$REGION" \
    --format='value(eventTrigger.trigger)' "$P")
  delivery_subscription=$(capture "projects/$PROJECT_ID/subscriptions/EVENTARC_SUBSCRIPTION" \
    gcloud eventarc triggers describe "$trigger" --location="$REGION" \
    --format='value(transport.pubsub.subscription)' "$P")
  run gcloud pubsub subscriptions update "$delivery_subscription" "${retry_policy[@]}" "$P"
  # Left over from an earlier --push-filter deployment, it would deliver everything twice.
  if exists gcloud pubsub subscriptions describe "$PUSH_SUBSCRIPTION" "$P"; then
    run gcloud pubsub subscriptions delete "$PUSH_SUBSCRIPTION" "$P"
  fi
fi
# Dead-lettering acknowledges on the source subscription as the Pub/Sub service agent.
run_retry gcloud pubsub subscriptions add-iam-policy-binding "$delivery_subscription" \
  --member="$(member "$pubsub_agent")" --role=roles/pubsub.subscriber "$P"

step "Cloud Scheduler: a sweep tick on $SWEEP_TOPIC ($SWEEP_SCHEDULE)"
schedule=(--location="$REGION" --schedule="$SWEEP_SCHEDULE" --time-zone="$SWEEP_TIME_ZONE"
  --topic="$SWEEP_TOPIC_PATH" --message-body='{}')
if exists gcloud scheduler jobs describe "$SWEEP_JOB" --location="$REGION" "$P"; then
  run gcloud scheduler jobs update pubsub "$SWEEP_JOB" "${schedule[@]}" "$P"
else
  run gcloud scheduler jobs create pubsub "$SWEEP_JOB" "${schedule[@]}" "$P"
fi

step "Log-based metrics, alert policies and the dashboard (deploy/monitoring/)"
python3 "$here/render.py" monitoring "$here/monitoring" "$render_dir"
for file in "$render_dir"/metric-*.json; do
  metric=$(basename "$file" .json)
  metric=${metric#metric-}
  if exists gcloud logging metrics describe "$metric" "$P"; then
    run gcloud logging metrics update "$metric" --config-from-file="$file" "$P"
  else
    run gcloud logging metrics create "$metric" --config-from-file="$file" "$P"
  fi
done
monitoring_auth "$render_dir"
for file in "$render_dir"/alert-*.json; do
  display=$(python3 "$here/render.py" display-name "$file")
  policy=$(alert_policies "$display" "")
  policy=${policy%%$'\n'*}
  if [[ -n $policy ]]; then
    # No updateMask: the policy is replaced by the file.
    run "${CURL_MONITORING[@]}" -X PATCH --data "@$file" "$MONITORING_API/$policy"
  else
    # A policy on a log-based metric created seconds ago can be refused until it exists.
    run_retry "${CURL_MONITORING[@]}" -X POST --data "@$file" \
      "$MONITORING_API/projects/$PROJECT_ID/alertPolicies"
  fi
done
dashboard_file="$render_dir/dashboard-keeper.json"
display=$(python3 "$here/render.py" display-name "$dashboard_file")
dashboard=$(capture "" gcloud monitoring dashboards list --filter="displayName=\"$display\"" \
  --format='value(name)' "$P")
dashboard=${dashboard%%$'\n'*}
if [[ -n $dashboard ]]; then
  run gcloud monitoring dashboards update "$dashboard" --config-from-file="$dashboard_file" "$P"
else
  run gcloud monitoring dashboards create --config-from-file="$dashboard_file" "$P"
fi
if [[ -z $ALERT_NOTIFICATION_CHANNELS ]]; then
  note "ALERT_NOTIFICATION_CHANNELS is empty: incidents open in Cloud Monitoring, nobody is notified"
fi

step "Done"
shown=$(shown_path "$OPERATOR_ENV_FILE")
if [[ $DRY_RUN == true ]]; then
  note "dry run: nothing was changed; rendered monitoring files are in $render_dir"
  note "the operator's settings it would write to $shown:"
  while IFS= read -r line; do
    note "  $line"
  done < <(operator_env)
else
  operator_env >"$OPERATOR_ENV_FILE"
  note "deployed. The operator's settings are in $shown; for python -m keeper:"
  note "  set -a; . $shown; set +a"
  note "  python -m keeper doctor"
  note "Next: domain-wide delegation and registering subscriptions (deploy/README.md)"
fi
