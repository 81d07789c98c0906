"""The review step: after a failed validation, a person in the Airflow UI approves or rejects blessing the run's
output (include.blessing) as the new expected output.

It is Airflow 3's human-in-the-loop ApprovalOperator (standard provider): the task waits in the state
``awaiting_input`` and shows under *Required actions* with the failed parts' counts, first differences and the
files it would replace; the reviewer answers Approve or Reject with a comment. Approve lets ``bless_output``
run; Reject skips it. Who may answer: whoever may change this DAG's runs (Airflow's HITL endpoint asks the
auth manager for DAG access of kind HITL_DETAIL with PUT: the ``user`` role and above; a viewer gets 403).

When it is offered, and for how long, is decided here at run time, not at parse time:

- only when validate_output compared the outputs and found differences (not when it could not compare, nor
  when an earlier task failed): anything else skips the step;
- only on manual runs: a scheduled (nightly) run never waits, since with ``max_active_runs=1`` a waiting run
  would hold back the next night's run and every manual trigger;
- for ``review_minutes`` (param; 0 = no review): past that, Airflow's scheduler answers Reject by itself (the
  step's default), so nothing changes. ``make run`` (dag.test(), which never answers) runs with 0.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Param
from airflow.sdk.bases.skipmixin import SkipMixin
from airflow.sdk.exceptions import AirflowSkipException

log = logging.getLogger(__name__)

REVIEW_MINUTES_PARAM = "review_minutes"
COMMENT = "comment"
APPROVE = ApprovalOperator.APPROVE


class ReviewOperator(ApprovalOperator):
    """ApprovalOperator that offers itself only for a failed validation of a manual run, with the run's
    ``review_minutes`` as its response timeout and the differences as its body."""

    def __init__(self, *, validate_task_id: str, params: Any = None, **kwargs: Any) -> None:
        # ``params`` arrives merged with the DAG's (Airflow's operator defaults); the form shows task params only.
        form = {COMMENT: Param("", type="string", title="Comment", source="task",
                               description="Why this output is the right one (kept in the audit record).")}
        super().__init__(
            subject="Bless the output of run {{ run_id }} as the new expected output?",
            # No answer within review_minutes is a rejection: nothing changes.
            defaults=ApprovalOperator.REJECT,
            params={**dict((params or {}).items()), **form},
            retries=0,  # a timeout or a refusal is an answer; asking again would only wait again
            **kwargs)
        self.validate_task_id = validate_task_id

    def execute(self, context: Any) -> Any:
        from include import blessing, validation
        from include.contract import REPLAY_VALIDATION_URL_PREFIX, REPORT_FILE, VALIDATION_FILE, report_route
        from include.paths import output_dir_for, output_root_of

        params, dag_run = context["params"], context["dag_run"]
        minutes = params.get(REVIEW_MINUTES_PARAM, 0)
        summary = context["ti"].xcom_pull(task_ids=self.validate_task_id, key="validation_summary")
        if not summary or summary.get("passed") or summary.get("error"):
            raise AirflowSkipException("nothing to review: validate_output did not find differences "
                                       "(it passed, could not compare, or did not run)")
        if str(getattr(dag_run.run_type, "value", dag_run.run_type)) == "scheduled":
            raise AirflowSkipException("scheduled runs are not reviewed (they never wait for a person); "
                                       "trigger the run by hand to review its output")
        if not minutes:
            raise AirflowSkipException(f"{REVIEW_MINUTES_PARAM} is 0: no review")
        out = output_dir_for(params["output_dir"], dag_run.run_id)
        record = validation.read_record(out / VALIDATION_FILE)
        # The Replay validation page serves the reports of the run folders in the output roots.
        root = output_root_of(out)
        link = (f"{REPLAY_VALIDATION_URL_PREFIX}/{report_route(out.name, root)}"
                if root is not None and (out / REPORT_FILE).is_file() else None)
        self.body = blessing.review_body(record, expected_paths(params), link)
        self.response_timeout = timedelta(minutes=minutes)
        log.info("Waiting up to %d min for a reviewer to approve or reject blessing %s's output (Required actions "
                 "in the UI); no answer is a rejection", minutes, dag_run.run_id)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        # Logged first: on Reject the operator skips bless_output by raising, and nothing after it runs.
        if event.get("timedout"):
            log.info("No answer within %s min: rejected by default; the expected files are unchanged",
                     context["params"].get(REVIEW_MINUTES_PARAM))
        elif "chosen_options" in event:
            log.info("Answer: %s, by %s, comment %r", ", ".join(event["chosen_options"]),
                     (event.get("responded_by_user") or {}).get("name"),
                     (event.get("params_input") or {}).get(COMMENT, ""))
        return super().execute_complete(context, event)


def pass_without_review(ti: Any, task: Any, result: dict, review_task_ids: list[str]) -> dict:
    """End a validation that passed: ``result`` is ``task``'s return value (XCom), and the review's tasks
    (``review_task_ids``: the review and the blessing) are skipped now, as a short-circuit skips them.

    Left to their trigger rules they are skipped one scheduling round after another (in dag.test(), which
    ``make run`` uses, a one-second wait each: bench/ row 4). A failed validation raises before this, so the
    review still follows it by its own trigger rule."""
    from airflow.sdk.bases.xcom import BaseXCom

    ti.xcom_push(BaseXCom.XCOM_RETURN_KEY, result)
    skipper = SkipMixin()
    skipper.task_id = task.task_id  # the skip is recorded under this task, as a branch's is (cleared runs keep it)
    # SkipMixin.skip ends the task by raising (DownstreamTasksSkipped): it succeeds and the tasks are skipped.
    skipper.skip(ti=ti, tasks=[task.dag.get_task(t) for t in review_task_ids])
    return result


def expected_paths(params: dict) -> dict[str, str | None]:
    """The expected files of a run, by output part, as its params name them."""
    from include.blessing import EXPECTED_PARAMS

    return {output: params.get(param) for output, param in EXPECTED_PARAMS.items()}
