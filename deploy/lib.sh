# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are used by the scripts that source it
# Shared by deploy.sh and teardown.sh: options, the env file, and the one place every gcloud
# command goes through (`run`, `capture`, `exists`), so a dry run prints exactly what a real
# run would execute.

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  echo "error: bash 4.4 or later is needed, this is $BASH_VERSION (macOS: brew install bash, or use Cloud Shell)" >&2
  exit 1
fi

# The dry run prints commands on fd 3 (the script's stdout), even from inside $(...).
exec 3>&1

DRY_RUN=false
ENV_FILE=""
# What `exists` answers in a dry run: deploy shows the fresh-project path (nothing exists),
# teardown shows everything it would delete (everything exists).
DRY_RUN_EXISTS=1

die() {
  echo "error: $*" >&2
  exit 1
}

note() {
  echo "# $*" >&2
}

# One word, quoted for a POSIX shell only when it needs it (so lines stay readable).
quote_word() {
  local word=$1 safe='^[-A-Za-z0-9_./:=@,%+]+$'
  if [[ $word =~ $safe ]]; then
    printf '%s' "$word"
  else
    printf "'%s'" "${word//\'/\'\\\'\'}"
  fi
}

format_cmd() {
  local out="" word
  for word in "$@"; do
    out+="${out:+ }$(quote_word "$word")"
  done
  printf '%s' "$out"
}

# Run a command, or in a dry run print it (one line, shell-quoted) and run nothing.
run() {
  if [[ $DRY_RUN == true ]]; then
    printf '%s\n' "$(format_cmd "$@")" >&3
    return 0
  fi
  echo "+ $(format_cmd "$@")" >&2
  "$@"
}

# Like run, but tolerate failure (teardown of something already gone, IAM eventual
# consistency warnings); the failure is reported, not fatal.
run_tolerant() {
  if ! run "$@"; then
    note "(ignored the failure above)"
  fi
}

# Retry a few times: IAM bindings on a service account created seconds ago, and alert
# policies on a log-based metric created seconds ago, can fail until they propagate.
run_retry() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if run "$@"; then
      return 0
    fi
    [[ $attempt == 5 ]] && return 1
    note "retrying in $((attempt * 10)) s (IAM and metric changes take a moment to propagate)"
    sleep $((attempt * 10))
  done
}

# Print a value a command produces. In a dry run: print the command, output the placeholder.
capture() {
  local placeholder=$1
  shift
  if [[ $DRY_RUN == true ]]; then
    printf '%s\n' "$(format_cmd "$@")" >&3
    printf '%s' "$placeholder"
    return 0
  fi
  "$@"
}

# Does the resource exist? (a describe command; its output is discarded)
exists() {
  if [[ $DRY_RUN == true ]]; then
    printf '%s\n' "$(format_cmd "$@")" >&3
    return "$DRY_RUN_EXISTS"
  fi
  "$@" >/dev/null 2>&1
}

# Alert policies go through the Cloud Monitoring API (v3, GA) with curl: gcloud has no GA or
# beta command for them, only `gcloud alpha monitoring policies`. The access token comes from
# gcloud and goes into a file only this user can read, which curl sends as a header
# (`-H @FILE`): it is never on a command line, in the run's trace or in a dry run's output.
MONITORING_API=https://monitoring.googleapis.com/v3
monitoring_auth() {
  local dir=$1 token
  MONITORING_HEADER="$dir/authorization.header"
  token=$(capture ACCESS_TOKEN gcloud auth print-access-token "$P")
  if [[ $DRY_RUN != true ]]; then
    (umask 077 && printf 'Authorization: Bearer %s\n' "$token" >"$MONITORING_HEADER")
  fi
  CURL_MONITORING=(curl --silent --show-error --fail-with-body -H "@$MONITORING_HEADER"
    -H 'Content-Type: application/json')
}

# The names of the alert policies displayed as $1, one a line; in a dry run, $2.
alert_policies() {
  local listing
  listing=$(capture "{\"alertPolicies\": [{\"name\": \"$2\"}]}" "${CURL_MONITORING[@]}" -G \
    --data-urlencode "filter=display_name=\"$1\"" "$MONITORING_API/projects/$PROJECT_ID/alertPolicies")
  python3 "$(dirname "${BASH_SOURCE[0]}")/render.py" policy-names <<<"$listing"
}

# Options shared by both scripts; the rest is left in EXTRA_ARGS for the caller.
parse_common_args() {
  EXTRA_ARGS=()
  while (($#)); do
    case $1 in
      --dry-run) DRY_RUN=true ;;
      --env-file) [[ $# -ge 2 ]] || die "--env-file needs a path"; ENV_FILE=$2; shift ;;
      --env-file=*) ENV_FILE=${1#--env-file=} ;;
      *) EXTRA_ARGS+=("$1") ;;
    esac
    shift
  done
}

load_env() {
  local default_file=$1
  ENV_FILE=${ENV_FILE:-${KEEPER_ENV_FILE:-$default_file}}
  [[ -f $ENV_FILE ]] || die "no env file at $ENV_FILE (copy deploy/keeper.env.example to deploy/keeper.env, or pass --env-file FILE)"
  set -a
  # shellcheck source=/dev/null
  source "$ENV_FILE"
  set +a

  : "${PROJECT_ID:?set PROJECT_ID in $ENV_FILE}"
  : "${REGION:?set REGION in $ENV_FILE}"
  : "${TOPIC:?set TOPIC, the app events topic, in $ENV_FILE}"
  # No default: a database's location is permanent, so deploy.sh asks for it (never REGION).
  FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-}
  FIRESTORE_DATABASE=${FIRESTORE_DATABASE:-(default)}
  DEAD_LETTER_TOPIC=${DEAD_LETTER_TOPIC:-keeper-dead-letter}
  DEAD_LETTER_SUBSCRIPTION=${DEAD_LETTER_SUBSCRIPTION:-keeper-dead-letter-inbox}
  ALERTS_TOPIC=${ALERTS_TOPIC:-keeper-alerts}
  NOTICES_TOPIC=${NOTICES_TOPIC:-}
  SWEEP_TOPIC=${SWEEP_TOPIC:-keeper-sweep}
  EVENT_FUNCTION=${EVENT_FUNCTION:-keeper-events}
  SWEEP_FUNCTION=${SWEEP_FUNCTION:-keeper-sweep}
  SWEEP_JOB=${SWEEP_JOB:-keeper-sweep}
  SWEEP_SCHEDULE=${SWEEP_SCHEDULE:-*/10 * * * *}
  SWEEP_TIME_ZONE=${SWEEP_TIME_ZONE:-Etc/UTC}
  PUSH_SUBSCRIPTION=${PUSH_SUBSCRIPTION:-keeper-lifecycle-push}
  SERVICE_ACCOUNT=${SERVICE_ACCOUNT:-keeper-runtime}
  INVOKER_SERVICE_ACCOUNT=${INVOKER_SERVICE_ACCOUNT:-keeper-invoker}
  TOPIC_INSPECTOR_ROLE=${TOPIC_INSPECTOR_ROLE:-keeperTopicInspector}
  MEMORY=${MEMORY:-512Mi}
  CPU=${CPU:-1}
  CONCURRENCY=${CONCURRENCY:-20}
  MAX_INSTANCES=${MAX_INSTANCES:-5}
  EVENT_TIMEOUT=${EVENT_TIMEOUT:-120s}
  SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-540s}
  SWEEP_MAX_INSTANCES=${SWEEP_MAX_INSTANCES:-5}
  MAX_DELIVERY_ATTEMPTS=${MAX_DELIVERY_ATTEMPTS:-10}
  INGRESS=${INGRESS:-internal-only}
  KEEPER_FIX_TOPIC_IAM=${KEEPER_FIX_TOPIC_IAM:-false}
  KEEPER_CHAT_PUSH_SERVICE_ACCOUNT=${KEEPER_CHAT_PUSH_SERVICE_ACCOUNT:-chat-api-push@system.gserviceaccount.com}
  KEEPER_LEDGER_TTL_DAYS=${KEEPER_LEDGER_TTL_DAYS:-14}
  KEEPER_COLLECTION_PREFIX=${KEEPER_COLLECTION_PREFIX:-keeper}
  PUSH_PUBLISHERS=${PUSH_PUBLISHERS:-}
  SECRETS=${SECRETS:-}
  OPERATORS=${OPERATORS:-}
  ALERT_NOTIFICATION_CHANNELS=${ALERT_NOTIFICATION_CHANNELS:-}
  PUSH_FILTER=${PUSH_FILTER:-true}
  WORKSPACE_EVENTS_API_ENDPOINT=${WORKSPACE_EVENTS_API_ENDPOINT:-https://workspaceevents.googleapis.com/}
  KEEPER_CHAT_API_ENDPOINT=${KEEPER_CHAT_API_ENDPOINT:-https://chat.googleapis.com/}
  KEEPER_MEET_API_ENDPOINT=${KEEPER_MEET_API_ENDPOINT:-https://meet.googleapis.com/}
  KEEPER_DRIVE_ACTIVITY_API_ENDPOINT=${KEEPER_DRIVE_ACTIVITY_API_ENDPOINT:-https://driveactivity.googleapis.com/}
  OPERATOR_ENV_FILE=${OPERATOR_ENV_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/operator.env}

  case $KEEPER_FIX_TOPIC_IAM in
    true | false) ;;
    *) die "KEEPER_FIX_TOPIC_IAM must be true or false, not '$KEEPER_FIX_TOPIC_IAM'" ;;
  esac
  case $PUSH_FILTER in
    true | false) ;;
    *) die "PUSH_FILTER must be true or false, not '$PUSH_FILTER'" ;;
  esac

  SA_EMAIL="$SERVICE_ACCOUNT@$PROJECT_ID.iam.gserviceaccount.com"
  INVOKER_EMAIL="$INVOKER_SERVICE_ACCOUNT@$PROJECT_ID.iam.gserviceaccount.com"
  DEAD_LETTER_TOPIC_PATH="projects/$PROJECT_ID/topics/$DEAD_LETTER_TOPIC"
  ALERTS_TOPIC_PATH="projects/$PROJECT_ID/topics/$ALERTS_TOPIC"
  SWEEP_TOPIC_PATH="projects/$PROJECT_ID/topics/$SWEEP_TOPIC"
  DEAD_LETTER_SUBSCRIPTION_PATH="projects/$PROJECT_ID/subscriptions/$DEAD_LETTER_SUBSCRIPTION"
  # The app's notices topic: a name in PROJECT_ID, or projects/P/topics/T in another project.
  NOTICES_TOPIC_PATH=""
  if [[ $NOTICES_TOPIC =~ ^projects/[^/]+/topics/[^/]+$ ]]; then
    NOTICES_TOPIC_PATH=$NOTICES_TOPIC
  elif [[ $NOTICES_TOPIC == */* ]]; then
    die "NOTICES_TOPIC must be a topic name or projects/PROJECT/topics/TOPIC, not '$NOTICES_TOPIC'"
  elif [[ -n $NOTICES_TOPIC ]]; then
    NOTICES_TOPIC_PATH="projects/$PROJECT_ID/topics/$NOTICES_TOPIC"
  fi
  # render.py fills the monitoring templates from these.
  export PROJECT_ID REGION EVENT_FUNCTION SWEEP_FUNCTION SWEEP_JOB SWEEP_TOPIC \
    DEAD_LETTER_TOPIC DEAD_LETTER_SUBSCRIPTION ALERT_NOTIFICATION_CHANNELS \
    KEEPER_COLLECTION_PREFIX FIRESTORE_DATABASE MAX_DELIVERY_ATTEMPTS
  # Every command names its project: never the caller's gcloud default by accident.
  P="--project=$PROJECT_ID"
  export CLOUDSDK_CORE_DISABLE_PROMPTS=1
}

# The project number, for the Google-managed service agents (Pub/Sub's, for dead-lettering
# and authenticated push). PROJECT_NUMBER in the env file saves the lookup.
project_number() {
  if [[ -n ${PROJECT_NUMBER:-} ]]; then
    printf '%s' "$PROJECT_NUMBER"
    return 0
  fi
  capture PROJECT_NUMBER gcloud projects describe "$PROJECT_ID" --format='value(projectNumber)' "$P"
}
