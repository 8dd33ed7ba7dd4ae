"""common.py — shared pieces of the arith model makers (tools/arith/): paths, the chat format, the
data reader and the exact step checker used to label the PRM's training data.

The chat format is ChatML without a system turn (the demo runs `--system-prompt ''`):

    <|im_start|>user\n{problem}<|im_end|>\n<|im_start|>assistant\n{solution}<|im_end|>

where the solution is the generator's (`ponder data arith`): steps separated by "\n\n", the last
one ending in \\boxed{answer}. The PRM's input is Qwen2.5-Math-PRM's: a system turn with
PRM_SYSTEM, the problem as the user turn, the steps each followed by <extra_0>.
"""
import itertools
import json
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PONDER = os.path.join(ROOT, "build", "ponder")
MODELS = os.path.join(ROOT, "models")
QWEN_TOK_DIR = os.path.join(ROOT, "..", "shared", "tokenizers", "qwen2.5-0.5b-instruct")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]
PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
DELIM = "\n\n"


def prompt_text(problem):
    """The policy's prompt: the chat without a system turn, ending with the generation prompt."""
    return "<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n" % problem


def prm_text(problem, steps):
    """The PRM's input (Qwen2.5-Math-PRM): system, user = problem, assistant = steps each followed
    by <extra_0>, then the closing <|im_end|>\\n."""
    return ("<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n%s<|im_end|>\n"
            % (PRM_SYSTEM, problem, "".join(s + "<extra_0>" for s in steps)))


# The task the models learn: "sums" (`ponder data sums`, a search task: which numbers of a list
# make a target; what models/ holds) or "arith" (`ponder data arith`, expressions: the first
# world, ARITH_TASK=arith; docs/ARITH.md says why the models moved). Both checkers are below.
TASK = os.environ.get("ARITH_TASK", "sums")
if TASK not in ("arith", "sums"):
    raise SystemExit("ARITH_TASK must be arith or sums, not %r" % TASK)


def ponder_data(n, seed, levels="1-5", task=None):
    """Problems from `ponder data TASK` (list of dicts: problem, solution, answer, level)."""
    out = subprocess.run([PONDER, "data", task or TASK, "--n", str(n), "--levels", levels, "--seed", str(seed)],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------- the step checker
# An expression in the generator's LaTeX: integers (negative ones parenthesised except at the
# top), + - \times \div, parentheses. It is parsed into a tree; reduction evaluates the leftmost
# operation whose operands are both numbers (post-order), exactly as src/eval/arith.c does, so
# the correct next step of any expression is known, and a step is right when it says exactly
# that: the same operation, its right value, and the expression rewritten correctly.

_TOK = re.compile(r"\s*(\d+|\\times|\\div|[-+()])")


class Node:
    __slots__ = ("op", "val", "l", "r")

    def __init__(self, op=None, val=None, l=None, r=None):
        self.op, self.val, self.l, self.r = op, val, l, r


def parse_expr(s):
    """Parse the generator's LaTeX expression; returns a Node tree or raises ValueError."""
    toks, pos = [], 0
    s = s.strip()
    while pos < len(s):
        m = _TOK.match(s, pos)
        if not m:
            raise ValueError("bad token at %r" % s[pos:pos + 10])
        toks.append(m.group(1))
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    i = 0

    def peek():
        return toks[i] if i < len(toks) else None

    def atom():
        nonlocal i
        t = peek()
        if t is None:
            raise ValueError("unexpected end")
        if t == "(":
            i += 1
            if peek() == "-" and i + 1 < len(toks) and toks[i + 1].isdigit() and i + 2 < len(toks) and toks[i + 2] == ")":
                v = -int(toks[i + 1])
                i += 3
                return Node(val=v)
            e = expr()
            if peek() != ")":
                raise ValueError("missing )")
            i += 1
            return e
        if t == "-" and i + 1 < len(toks) and toks[i + 1].isdigit():  # a leading negative number
            i += 2
            return Node(val=-int(toks[i - 1]))
        if t.isdigit():
            i += 1
            return Node(val=int(t))
        raise ValueError("unexpected %r" % t)

    def term():
        nonlocal i
        n = atom()
        while peek() in ("\\times", "\\div"):
            op = "*" if toks[i] == "\\times" else "/"
            i += 1
            n = Node(op=op, l=n, r=atom())
        return n

    def expr():
        nonlocal i
        n = term()
        while peek() in ("+", "-"):
            op = toks[i]
            i += 1
            n = Node(op=op, l=n, r=term())
        return n

    e = expr()
    if i != len(toks):
        raise ValueError("trailing tokens")
    return e


def _prec(n):
    return 3 if n.op is None else (1 if n.op in "+-" else 2)


def render(n, top=True):
    """LaTeX of a tree exactly as arith.c writes it."""
    if n.op is None:
        return "(%d)" % n.val if n.val < 0 and not top else "%d" % n.val
    pl = _prec(n.l) < _prec(n)
    pr = n.r.op is not None and _prec(n.r) <= _prec(n)
    l = render(n.l, False)
    r = render(n.r, False)
    ops = {"+": " + ", "-": " - ", "*": " \\times ", "/": " \\div "}
    return ("(%s)" % l if pl else l) + ops[n.op] + ("(%s)" % r if pr else r)


def _reducible_all(n, out):
    """Every operation whose operands are both numbers, leftmost (post-order) first."""
    if n.op is None:
        return out
    _reducible_all(n.l, out)
    _reducible_all(n.r, out)
    if n.l.op is None and n.r.op is None:
        out.append(n)
    return out


def apply_op(op, a, b):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 or a % b:
        return None
    return a // b


def step_text(op_text, v, rest):
    """A step as the generator writes it (rest None: the final step)."""
    if rest is None:
        return "$%s = %d$, so the answer is $\\boxed{%d}$." % (op_text, v, v)
    return "$%s = %d$, so the expression becomes $%s$." % (op_text, v, rest)


def candidate_steps(tree):
    """Every right next step of `tree`: for each operation whose operands are both numbers
    (the generator takes the leftmost; any is valid arithmetic), (step text, the node, value)."""
    out = []
    for n in _reducible_all(tree, []):
        v = apply_op(n.op, n.l.val, n.r.val)
        if v is None:
            continue
        op_text = render(n, False)
        saved = (n.op, n.val, n.l, n.r)
        n.op, n.val, n.l, n.r = None, v, None, None
        rest = None if n is tree else render(tree)
        n.op, n.val, n.l, n.r = saved
        out.append((step_text(op_text, v, rest), n, v))
    return out


STEP_OP = re.compile(r"^\$(.+?) = (-?\d+)\$, so ")
_PROBLEM = re.compile(r"^Compute \$(.+)\$\.$", re.S)


def label_steps(problem, steps):
    if _SUMS.match(problem):
        return sums_label_steps(problem, steps)
    return expr_label_steps(problem, steps)


def first_error(problem, steps):
    if _SUMS.match(problem):
        return sums_first_error(problem, steps)
    return expr_first_error(problem, steps)


def expr_label_steps(problem, steps):
    """Exact labels for a solution's steps (texts without the delimiter). A step is right (1)
    when every earlier step is right and it is, character for character, a right next step of
    the expression so far: one operation whose operands are both numbers, its exact value, and
    the expression rewritten with that value (or, when nothing else remains, the value boxed as
    the answer). Every step after a wrong one, or after the final one, is wrong (0). Returns
    (labels, solved): solved when every step is right and the last one boxes the answer."""
    m = _PROBLEM.match(problem)
    tree = parse_expr(m.group(1))
    labels, ok, done = [], True, False
    for s in steps:
        if ok and not done:
            ok = False
            for text, n, v in candidate_steps(tree):
                if s == text:
                    ok, done = True, n is tree
                    n.op, n.val, n.l, n.r = None, v, None, None
                    break
        else:
            ok = False
        labels.append(1 if ok else 0)
    return labels, bool(labels) and all(labels) and done


def expr_first_error(problem, steps):
    """Where a solution first goes wrong: (step index, character index in that step) of the
    first character that no right continuation has (the longest common prefix with the right
    next steps), or None when every step is right. A step that is a strict prefix of a right
    one goes wrong at its end; a step after the final one goes wrong at its start."""
    m = _PROBLEM.match(problem)
    tree = parse_expr(m.group(1))
    done = False
    for k, s in enumerate(steps):
        if done:
            return k, 0
        cands = candidate_steps(tree)
        for text, n, v in cands:
            if s == text:
                done = n is tree
                n.op, n.val, n.l, n.r = None, v, None, None
                break
        else:
            best = 0
            for text, _, _ in cands:
                i = 0
                while i < min(len(s), len(text)) and s[i] == text[i]:
                    i += 1
                best = max(best, i)
            return k, best
    return None


def wrong_value(v, op, a, b, rng):
    """A wrong value of the kind a small model writes for `a op b = v`: off by one or two, by ten,
    one digit changed, digits swapped, or (products) a row of the table off: v +- a or v +- b."""
    cands = []
    for _ in range(8):
        k = rng.random()
        if k < 0.25:
            w = v + rng.choice((-2, -1, 1, 2))
        elif k < 0.45:
            w = v + rng.choice((-10, 10, -20, 20))
        elif k < 0.7:
            d = list(str(abs(v)))
            i = rng.randrange(len(d))
            d[i] = str(rng.choice([x for x in range(10) if x != int(d[i])]))
            w = int("".join(d)) * (-1 if v < 0 else 1)
        elif k < 0.8 and abs(v) >= 10:
            d = list(str(abs(v)))
            d[-1], d[-2] = d[-2], d[-1]
            w = int("".join(d)) * (-1 if v < 0 else 1)
        elif op in "*/":
            w = v + rng.choice((-1, 1)) * rng.choice((abs(a), abs(b)))
        else:
            w = v + rng.choice((-1, 1)) * rng.randint(1, 9)
        if w != v:
            cands.append(w)
    return cands[0] if cands else v + 1


def corrupt_solution(problem, steps, rng):
    if _SUMS.match(problem):
        return sums_corrupt_solution(problem, rng)
    return expr_corrupt_solution(problem, steps, rng)


def expr_corrupt_solution(problem, steps, rng):
    """A right solution turned wrong at one step: the steps before it, then that step with a
    wrong value (the expression rewritten with it, as a model that believes it would). Returns
    (steps, labels) with labels [1, ..., 1, 0], or None when no step can be corrupted."""
    m = _PROBLEM.match(problem)
    tree = parse_expr(m.group(1))
    k = rng.randrange(len(steps))
    out = []
    for j, s in enumerate(steps):
        for text, n, v in candidate_steps(tree):
            if s == text:
                break
        else:
            return None
        if j < k:
            out.append(s)
            n.op, n.val, n.l, n.r = None, v, None, None
            continue
        a, b = n.l.val, n.r.val
        w = wrong_value(v, n.op, a, b, rng)
        op_text = render(n, False)
        n.op, n.val, n.l, n.r = None, w, None, None
        rest = None if n is tree else render(tree)
        out.append(step_text(op_text, w, rest))
        return out, [1] * k + [0]
    return None


def solution_steps(solution):
    return solution.split(DELIM)


# ------------------------------------------------------------------ the target-sum task's checker
# "Three of the numbers 14, 27, 35, 8, 19 and 42 add up to 76. What is the smallest of the three?"
# Exactly one choice of that many numbers makes the target (src/eval/sums.c), and the right
# solution is unique: the chosen numbers from the largest down, one subtraction per step. The
# checker finds the choice by trying every subset and writes the right steps as the generator does.

_SUMS = re.compile(r"^(Two|Three|Four) of the numbers ([\d, and]+) add up to (\d+)\. What is the (smaller|smallest) of the")
_WORDS = {"Two": 2, "Three": 3, "Four": 4}
_LOWER = {2: "two", 3: "three", 4: "four"}


def sums_right_steps(problem):
    """The right solution's steps of a target-sum problem (texts without the delimiter)."""
    m = _SUMS.match(problem)
    pick, target = _WORDS[m.group(1)], int(m.group(3))
    nums = [int(x) for x in re.findall(r"\d+", m.group(2))]
    sols = [c for c in itertools.combinations(nums, pick) if sum(c) == target]
    if len(sols) != 1:
        raise ValueError("%d choices make the target in %r" % (len(sols), problem))
    chosen = sorted(sols[0], reverse=True)
    steps, rest = [], target
    for i in range(pick - 1):
        left = rest - chosen[i]
        if i + 2 < pick:
            steps.append("$%d - %d = %d$ is left for the other %s." % (rest, chosen[i], left, _LOWER[pick - 1 - i]))
        else:
            steps.append("$%d - %d = %d$, and %d is one of the numbers, so the %s is $\\boxed{%d}$."
                         % (rest, chosen[i], left, left, m.group(4), left))
        rest = left
    return steps


def sums_label_steps(problem, steps):
    """Exact labels: a step is right (1) when every earlier step is right and it is the right
    solution's step, character for character; every later step is wrong (0). Returns (labels,
    solved)."""
    right = sums_right_steps(problem)
    labels, ok = [], True
    for k, s in enumerate(steps):
        ok = ok and k < len(right) and s == right[k]
        labels.append(1 if ok else 0)
    return labels, labels == [1] * len(right)


def sums_first_error(problem, steps):
    """(step index, character index) of the first character off the right solution, or None."""
    right = sums_right_steps(problem)
    for k, s in enumerate(steps):
        if k >= len(right):
            return k, 0
        if s != right[k]:
            i = 0
            while i < min(len(s), len(right[k])) and s[i] == right[k][i]:
                i += 1
            return k, i
    return None


def _sums_parse(problem):
    m = _SUMS.match(problem)
    return _WORDS[m.group(1)], [int(x) for x in re.findall(r"\d+", m.group(2))], int(m.group(3)), m.group(4)


def _sums_text(chain, pick, extreme):
    """Steps of a chain [(rest, taken, left), ...] written as the generator writes them."""
    out = []
    for i, (r, c, l) in enumerate(chain):
        if i + 2 < pick:
            out.append("$%d - %d = %d$ is left for the other %s." % (r, c, l, _LOWER[pick - 1 - i]))
        else:
            out.append("$%d - %d = %d$, and %d is one of the numbers, so the %s is $\\boxed{%d}$."
                       % (r, c, l, l, extreme, l))
    return out


def sums_corrupt_solution(problem, rng):
    """A wrong solution of the kinds the small policy writes, labelled exactly (sums_label_steps):
    other numbers taken (largest first, the subtractions right, so the last remainder is usually
    not in the list); the right numbers with one subtraction off (the later steps believing it);
    or other numbers taken and the last subtraction bent to land on a number of the list. Returns
    (steps, labels), or None when the draw came out right."""
    for _ in range(20):  # redrawn while a remainder goes below 1 (the policy does not write those)
        got = _sums_corrupt_once(problem, rng)
        if got != "negative":
            return got
    return None


def _sums_corrupt_once(problem, rng):
    pick, nums, target, extreme = _sums_parse(problem)
    kind = rng.random()
    if kind < 0.5 or kind >= 0.8:
        taken = sorted(rng.sample(nums, pick - 1), reverse=True)
    else:
        sol = [c for c in itertools.combinations(nums, pick) if sum(c) == target][0]
        taken = sorted(sol, reverse=True)[:pick - 1]
    chain, rest = [], target
    bad_at = rng.randrange(pick - 1) if 0.5 <= kind < 0.8 else -1
    for i, c in enumerate(taken):
        left = rest - c
        if i == bad_at:
            left += rng.choice((-10, -2, -1, 1, 2, 10))
        if kind >= 0.8 and i == pick - 2:  # bent onto a number of the list
            others = [x for x in nums if x not in taken and x != left]
            if others:
                left = rng.choice(others)
        if left < 1:
            return "negative"
        chain.append((rest, c, left))
        rest = left
    steps = _sums_text(chain, pick, extreme)
    labels, solved = sums_label_steps(problem, steps)
    return None if solved else (steps, labels)
