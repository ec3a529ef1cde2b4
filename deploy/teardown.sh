#!/usr/bin/env bash
# Remove what deploy/deploy.sh created, idempotently.
#
#   deploy/teardown.sh [--env-file FILE] [--only-event-function] [--delete-data] [--dry-run]
#
# --env-file FILE          the configuration deploy.sh used (default: deploy/keeper.env)
# --only-event-function    delete only the event function and its push subscription (to
#                          switch between --push-filter and the Eventarc trigger)
# --delete-data            also delete the keeper's Firestore collections (the managed
#                          subscriptions' metadata: without it nothing can be recreated)
# --dry-run                print every gcloud command, one a line, shell-quoted; run none
#
# Kept: the app's events topic and its publisher grants (the app needs them), the notices
# topic (NOTICES_TOPIC, the app's too), the Firestore database and its data (unless
# --delete-data), the enabled APIs, and the Workspace subscriptions themselves (`python -m
# keeper forget NAME --delete` deletes one at Google). The operator's settings file
# (deploy/operator.env) is deleted with the rest: it names what is gone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=deploy/lib.sh
source "$here/lib.sh"

usage() {
  # the comment block at the top of this file
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
}

parse_common_args "$@"
only_event_function=false
delete_data=false
set -- "${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"}"
while (($#)); do
  case $1 in
    --only-event-function) only_event_function=true ;;
    --delete-data) delete_data=true ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done

load_env "$here/keeper.env"
DRY_RUN_EXISTS=0 # a dry run shows every deletion
if [[ $DRY_RUN == false ]]; then
  command -v gcloud >/dev/null || die "the Google Cloud CLI (gcloud) is needed"
fi

step() {
  note ""
  note "== $*"
}

member() {
  printf 'serviceAccount:%s' "$1"
}

note "Tearing down the Workspace subscription keeper in $PROJECT_ID ($REGION)"
if [[ $DRY_RUN == true ]]; then
  note "dry run: printing the gcloud commands, running none. Each 'describe' is an existence"
  note "check, answered 'present' here, so every deletion shows; a real run skips what is gone."
fi

step "The event function and its push subscription"
if exists gcloud pubsub subscriptions describe "$PUSH_SUBSCRIPTION" "$P"; then
  run gcloud pubsub subscriptions delete "$PUSH_SUBSCRIPTION" "$P"
fi
if exists gcloud functions describe "$EVENT_FUNCTION" --gen2 --region="$REGION" "$P"; then
  # Deleting the function deletes its Eventarc trigger and that trigger's subscription.
  run gcloud functions delete "$EVENT_FUNCTION" --gen2 --region="$REGION" "$P"
fi
if [[ $only_event_function == true ]]; then
  note "done: only the event function was removed; deploy again to recreate it"
  exit 0
fi

step "The sweep: scheduler job and function"
if exists gcloud scheduler jobs describe "$SWEEP_JOB" --location="$REGION" "$P"; then
  run gcloud scheduler jobs delete "$SWEEP_JOB" --location="$REGION" "$P"
fi
if exists gcloud functions describe "$SWEEP_FUNCTION" --gen2 --region="$REGION" "$P"; then
  run gcloud functions delete "$SWEEP_FUNCTION" --gen2 --region="$REGION" "$P"
fi

step "The dashboard, alert policies and log-based metrics"
auth_dir=$(mktemp -d "${TMPDIR:-/tmp}/keeper-teardown.XXXXXX")
trap 'rm -rf "$auth_dir"' EXIT
monitoring_auth "$auth_dir"
display=$(python3 "$here/render.py" display-name "$here/monitoring/dashboard-keeper.json")
dashboards=$(capture "projects/$PROJECT_ID/dashboards/DASHBOARD_ID" gcloud monitoring dashboards \
  list --filter="displayName=\"$display\"" --format='value(name)' "$P")
for dashboard in $dashboards; do
  run gcloud monitoring dashboards delete "$dashboard" "$P"
done
for template in "$here"/monitoring/alert-*.json; do
  display=$(python3 "$here/render.py" display-name "$template")
  for policy in $(alert_policies "$display" "projects/$PROJECT_ID/alertPolicies/POLICY_ID"); do
    run "${CURL_MONITORING[@]}" -X DELETE "$MONITORING_API/$policy"
  done
done
for template in "$here"/monitoring/metric-*.json; do
  metric=$(basename "$template" .json)
  metric=${metric#metric-}
  if exists gcloud logging metrics describe "$metric" "$P"; then
    run gcloud logging metrics delete "$metric" "$P"
  fi
done

step "Topics: dead letter (and its inbox), alerts, sweep; the app's topic stays"
if exists gcloud pubsub subscriptions describe "$DEAD_LETTER_SUBSCRIPTION" "$P"; then
  run gcloud pubsub subscriptions delete "$DEAD_LETTER_SUBSCRIPTION" "$P"
fi
for topic in "$DEAD_LETTER_TOPIC" "$ALERTS_TOPIC" "$SWEEP_TOPIC"; do
  if exists gcloud pubsub topics describe "$topic" "$P"; then
    run gcloud pubsub topics delete "$topic" "$P"
  fi
done

step "IAM: the keeper's grants outside what is deleted"
# A deleted service account leaves its bindings behind as deleted:serviceAccount:...; remove
# them first. A binding that is not there makes gcloud fail: tolerated.
run_tolerant gcloud pubsub topics remove-iam-policy-binding "$TOPIC" \
  --member="$(member "$SA_EMAIL")" --role="projects/$PROJECT_ID/roles/$TOPIC_INSPECTOR_ROLE" "$P"
run_tolerant gcloud pubsub topics remove-iam-policy-binding "$TOPIC" \
  --member="$(member "$SA_EMAIL")" --role=roles/pubsub.admin "$P"
run_tolerant gcloud projects remove-iam-policy-binding "$PROJECT_ID" \
  --member="$(member "$SA_EMAIL")" --role=roles/datastore.user --condition=None "$P"
if [[ -n $NOTICES_TOPIC_PATH ]]; then
  run_tolerant gcloud pubsub topics remove-iam-policy-binding "$NOTICES_TOPIC_PATH" \
    --member="$(member "$SA_EMAIL")" --role=roles/pubsub.publisher "$P"
fi
for secret in $SECRETS; do
  run_tolerant gcloud secrets remove-iam-policy-binding "$secret" \
    --member="$(member "$SA_EMAIL")" --role=roles/secretmanager.secretAccessor "$P"
done
if exists gcloud iam roles describe "$TOPIC_INSPECTOR_ROLE" "$P"; then
  # Soft-deleted for 7 days (deploy.sh undeletes it if it runs again in that time).
  run gcloud iam roles delete "$TOPIC_INSPECTOR_ROLE" "$P"
fi

step "Service accounts"
for email in "$SA_EMAIL" "$INVOKER_EMAIL"; do
  if exists gcloud iam service-accounts describe "$email" "$P"; then
    run gcloud iam service-accounts delete "$email" "$P"
  fi
done

if [[ $delete_data == true ]]; then
  step "Firestore: the keeper's collections (--delete-data)"
  run gcloud firestore bulk-delete --database="$FIRESTORE_DATABASE" \
    --collection-ids="${KEEPER_COLLECTION_PREFIX}_subscriptions,${KEEPER_COLLECTION_PREFIX}_names,${KEEPER_COLLECTION_PREFIX}_events" "$P"
  # The history subcollections are named plain "history", which other code in the database
  # may use too: deleted only by hand (deploy/README.md).
fi

step "Done"
if [[ $DRY_RUN == true ]]; then
  note "dry run: nothing was changed ($OPERATOR_ENV_FILE would be deleted)"
else
  rm -f "$OPERATOR_ENV_FILE"
  note "torn down. Kept: topic $TOPIC, the Firestore database$([[ $delete_data == true ]] || echo ' and its data'), the enabled APIs"
fi
