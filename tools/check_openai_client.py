#!/usr/bin/env python3
"""check_openai_client.py — the official `openai` Python package (PyPI) as a client of
`ponder serve`: models, completions, chat, chat with a search (extra_body ponder object and
the model-name prefix), streaming (plain and search), errors. Third-party check recorded in
docs/REMOTE.md; not part of `make test` (it needs Python and the package).

    ~/ponder-venv/bin/pip install openai
    ~/ponder-venv/bin/python tools/check_openai_client.py            # starts build/ponder serve
    ~/ponder-venv/bin/python tools/check_openai_client.py --base-url http://127.0.0.1:8080/v1

Starts the server itself (tiny fixture models, a free port on 127.0.0.1) unless --base-url
is given. Exits non-zero on the first failed check.
"""
import argparse
import os
import socket
import subprocess
import sys
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url")
    ap.add_argument("--ponder", default=os.path.join(ROOT, "build", "ponder"))
    a = ap.parse_args()
    proc = None
    base = a.base_url
    if not base:
        port = free_port()
        proc = subprocess.Popen([a.ponder, "serve", "--policy", "tests/fixtures/prm/rlhflow", "--prm", "tests/fixtures/prm/qwen2-prm",
                                 "--port", str(port), "--step-delimiter", " ", "--threads", "2", "--quiet", "--api-key", "k3y"], cwd=ROOT)
        base = f"http://127.0.0.1:{port}/v1"
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
    try:
        print(f"openai {openai.__version__} against {base}")
        c = openai.OpenAI(base_url=base, api_key="k3y", max_retries=0, timeout=60)
        models = c.models.list()
        name = models.data[0].id
        check(models.data[0].owned_by == "ponder", f"models.list: {name} owned by ponder")

        r = c.completions.create(model=name, prompt="What is 2+3?", max_tokens=8, seed=1, temperature=0.7,
                                 extra_body={"top_k": -1, "min_p": 0.0})
        check(r.choices[0].text is not None and r.usage.completion_tokens > 0, f"completions.create: {r.choices[0].text!r}")
        r2 = c.completions.create(model=name, prompt="What is 2+3?", max_tokens=8, seed=1, temperature=0.7)
        check(r2.choices[0].text == r.choices[0].text, "a seed reproduces its completion")
        lp = c.completions.create(model=name, prompt="2+2=", max_tokens=2, logprobs=3, temperature=0)
        check(len(lp.choices[0].logprobs.top_logprobs) == 2, "completions logprobs")

        ch = c.chat.completions.create(model=name, messages=[{"role": "user", "content": "What is 2+3?"}], max_tokens=10, seed=2)
        check(ch.choices[0].message.role == "assistant" and ch.usage.total_tokens > 0, "chat.completions.create (plain)")

        s = c.chat.completions.create(model=name, messages=[{"role": "user", "content": "What is 2+3?"}], seed=3,
                                      extra_body={"ponder": {"strategy": "best_of_n", "n": 4, "max_step_tokens": 10, "trace": True}})
        tr = s.model_extra.get("ponder") if s.model_extra else None
        check(tr is not None and len(tr["candidates"]) == 4, "chat with a ponder object: a trace of 4 candidates")
        check(s.choices[0].message.content == tr["candidates"][tr["selected"]]["text"], "the answer is the selected candidate")
        check(s.usage.total_tokens == s.usage.prompt_tokens + s.usage.completion_tokens + s.usage.model_extra["prm_tokens"],
              f"usage counts every token, PRM included ({s.usage.total_tokens})")
        p = c.chat.completions.create(model=f"best_of_n-4/{name}", messages=[{"role": "user", "content": "What is 2+3?"}], seed=3,
                                      extra_body={"ponder": {"max_step_tokens": 10}})
        check(p.choices[0].message.content == s.choices[0].message.content, "the model-name prefix runs the same search")

        text, chunks, progress = "", 0, 0
        for ev in c.chat.completions.create(model=f"beam_search-4/{name}", messages=[{"role": "user", "content": "What is 2+3?"}],
                                            stream=True, stream_options={"include_usage": True},
                                            extra_body={"ponder": {"beam_width": 2, "iterations": 3, "max_step_tokens": 10}}):
            chunks += 1
            if ev.model_extra and ev.model_extra.get("ponder", {}).get("event") == "progress":
                progress += 1
            if ev.choices and ev.choices[0].delta.content:
                text += ev.choices[0].delta.content
        check(chunks > 3 and progress > 0 and len(text) > 0, f"streamed search: {chunks} chunks, {progress} progress events")

        text = "".join(ev.choices[0].text for ev in c.completions.create(model=name, prompt="Once", max_tokens=12, seed=9, stream=True))
        plain = c.completions.create(model=name, prompt="Once", max_tokens=12, seed=9).choices[0].text
        check(text == plain, "a streamed completion = the same completion unstreamed")

        try:
            c.chat.completions.create(model=name, messages=[], max_tokens=1)
            check(False, "an empty chat is refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "messages" in str(e), "BadRequestError (400) names the field")
        try:
            c.completions.create(model="nope", prompt="x")
            check(False, "an unknown model is refused")
        except openai.NotFoundError:
            check(True, "NotFoundError (404) for an unknown model")
        try:
            openai.OpenAI(base_url=base, api_key="wrong", max_retries=0).models.list()
            check(False, "a wrong key is refused")
        except openai.AuthenticationError:
            check(True, "AuthenticationError (401) for a wrong key")
        print("all checks passed")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
