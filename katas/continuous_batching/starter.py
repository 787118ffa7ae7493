# Your attempt at the `continuous_batching` kata: fill in every TODO, then run
#     nox -s kata -- continuous_batching
# Generated from solutions/continuous_batching.py; `dojo reset continuous_batching` archives this file and starts over.
"""Continuous (iteration-level) batching for LLM serving, simulated in pure Python.

An LLM server runs the model one step at a time; each step processes one batch of tokens.
Static batching admits a batch of requests and runs it until every one of them is done, so
short requests wait for the longest. Continuous batching re-forms the batch at every step:
a finished request leaves at once and a waiting one takes its slot. Build the scheduler and a
simulator that measures the difference.

Model of time (the tests follow it exactly):
- Steps are numbered t = 0, 1, 2, ... . `Request(id, arrival_step, prompt_len, output_len)`
  may be admitted at any step t >= arrival_step.
- Admission at step t processes the whole prompt in that step: a *prefill* of prompt_len
  tokens, which produces no output token. From step t + 1 on the request is *running*: every
  step it *decodes* 1 token, which is 1 output token. After its output_len-th decode (at step
  t + output_len) it is finished, and its slot is free for the admission at the next step.
- The batch of step t is: one decode for every request running at the start of step t (in
  admission order), then the prefills of the requests admitted at step t.
- Admission is FCFS: waiting requests in order of arrival_step (ties: the order they were
  added). The head of the queue is admitted while it has arrived, its prompt fits in what is
  left of the token budget (max_batch_tokens - decodes - prompts admitted so far this step,
  a prompt may fill it exactly), and fewer than max_seqs requests are running or admitted.
  When the head does not fit, admission stops: a later, smaller request never jumps ahead.
- policy "continuous": admission happens at every step. policy "static": admission happens
  only at a step where no request is running (the previous batch has entirely finished).
- Scheduler.step() forms and runs the batch of the current step, advances the clock by one,
  and returns Batch(step, prefill ids, decode ids, finished ids, n_tokens), where n_tokens =
  sum of the admitted prompt_lens + number of decodes. A step with nothing to do returns an
  empty batch (0 tokens) and still advances the clock.

simulate(requests, policy, max_batch_tokens, max_seqs) runs a fresh Scheduler until every
request is finished and returns a dict of metrics:
    total_steps     steps from t = 0 until the last request finishes (last finish step + 1)
    output_tokens   decode tokens produced = sum of output_len (prompt tokens are not output)
    throughput      output_tokens / total_steps
    latency         {id: finish_step + 1 - arrival_step}, in steps, arrival step included
    mean_latency, p50_latency (the median; the mean of the two middle values for an even
                    count), max_latency

Scheduler.add refuses (ValueError) a request with prompt_len < 1, output_len < 1 or
prompt_len > max_batch_tokens (it could never be admitted); Scheduler refuses an unknown
policy.

Pitfalls an interviewer looks for:
- Admitting beyond the token budget: the decodes of the running requests use budget too.
- Freeing the slot of a finished request one step late (it is free at the very next step).
- Non-FCFS admission (skipping a head that does not fit) starves long prompts.
- Counting prefill tokens as output tokens in the throughput.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

POLICIES = ("continuous", "static")


@dataclass(frozen=True)
class Request:
    id: object
    arrival_step: int
    prompt_len: int
    output_len: int


@dataclass
class Batch:
    step: int
    prefill: list = field(default_factory=list)  # ids admitted (prefilled) at this step, FCFS
    decode: list = field(default_factory=list)  # ids decoding one token, in admission order
    finished: list = field(default_factory=list)  # ids whose last output token is this step's
    n_tokens: int = 0  # sum of prefill prompt_lens + len(decode)


class Scheduler:
    """Iteration-level scheduler with a token budget and a cap on concurrent sequences."""

    def __init__(self, max_batch_tokens: int, max_seqs: int, policy: str = "continuous"):
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        self.max_batch_tokens, self.max_seqs, self.policy = max_batch_tokens, max_seqs, policy
        self.t = 0  # the step that the next call to step() runs
        self.waiting: list[Request] = []  # FCFS: by arrival_step, then by order of add
        self.running: list[Request] = []  # in admission order
        self.generated: dict = {}  # id -> output tokens produced so far

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def add(self, request: Request) -> None:
        """Queue a request (FCFS by arrival_step, ties in order of add)."""
        # TODO: refuse requests that could never run, then queue in FCFS order
        raise NotImplementedError('TODO: refuse requests that could never run, then queue in FCFS order')

    def step(self) -> Batch:
        """Form and run the batch of step self.t; advance the clock."""
        # TODO: decode every running request; admit FCFS heads within budget and max_seqs
        #       (static: only when nothing runs); retire the finished; advance the clock
        raise NotImplementedError('TODO: decode every running request; admit FCFS heads within budget and max_seqs')


def simulate(requests, policy: str = "continuous", max_batch_tokens: int = 64,
             max_seqs: int = 8) -> dict:
    """Run every request through a new Scheduler; return the metrics described above."""
    # TODO: step until no work is left, record each finish step, then the metrics
    raise NotImplementedError('TODO: step until no work is left, record each finish step, then the metrics')
