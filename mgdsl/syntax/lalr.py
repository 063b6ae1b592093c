"""A fast LALR(1) driver over lark's own tables: lark's contextual lexer regexes, the newline post-lexer, and
reductions that call AST-building callbacks directly (no parse tree). Accepts exactly what lark accepts; on
anything else it raises Reject and the caller asks lark for the syntax error."""
from __future__ import annotations

import lark
from lark.parsers.lalr_analysis import Shift

from ..diagnostics import InternalError

# After one of these tokens a newline continues the expression (the newline post-lexer's rule).
CONTINUATION_VALUES = frozenset({"+", "-", "*", "/", ",", "=", "^", "..", "+=", "-="})


class Reject(Exception):
    """The text is not in the language (or lark's internals are not what this driver knows): ask lark."""


class Rule:
    """One grammar rule as a reduction: how many stack entries it pops, the nonterminal it goes to, and how lark
    shapes its children (anonymous tokens dropped, `_rule`s inlined into their parent, None for an absent
    `[x]`, a `?rule` left with one child passing it up). `name` is the rule's alias or name (its callback)."""

    __slots__ = ("size", "origin", "include", "nones_after", "expand1", "name", "inline", "unit", "nullable_ends")

    def __init__(self, rule):
        expansion = rule.expansion
        self.size = len(expansion)
        self.origin = rule.origin.name
        empty = rule.options.empty_indices
        if empty:                              # how many Nones go before each symbol (lark's maybe_placeholders)
            nones = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
        else:
            nones = [0] * (self.size + 1)
        include, pending = [], 0
        for i, sym in enumerate(expansion):
            pending += nones[i]
            if rule.options.keep_all_tokens or not (sym.is_term and sym.filter_out):
                include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
                pending = 0
        self.include = tuple(include)
        self.nones_after = pending + nones[self.size]
        self.expand1 = bool(rule.options.expand1) and not rule.alias
        self.name = rule.alias or rule.origin.name
        self.inline = self.origin.startswith("_")
        # `?a: b`: the child passes up as it is, only the state changes
        self.unit = self.expand1 and self.size == 1 and self.include == ((0, False, 0),) and not self.nones_after
        self.nullable_ends = True              # set by Tables: may the first or last symbol match nothing?

    def source(self) -> str:
        """Python source of this rule's reducer: `reduce(stack, build)` pops the rule's entries and returns
        (value, start, end) with the children as lark's tree would have them (an inlined `_rule` is a list)."""
        n = self.size
        if self.unit:
            return "def reduce(stack, build):\n    k = stack.pop()\n    return k[1], k[2], k[3]\n"
        lines = ["def reduce(stack, build):"]
        if n:
            lines += [f"    kids = stack[-{n}:]", f"    del stack[-{n}:]"]
            if self.nullable_ends:             # the rule's place: from its first placed child to its last
                lines += ["    s = next((k[2] for k in kids if k[2] is not None), None)",
                          "    e = next((k[3] for k in reversed(kids) if k[3] is not None), None)"]
            else:
                lines += ["    s = kids[0][2]", f"    e = kids[{n - 1}][3]"]
        else:
            lines += ["    s = e = None"]
        if not any(expand for _, expand, _ in self.include):
            items = []
            for i, _, nones in self.include:
                items += ["None"] * nones + [f"kids[{i}][1]"]
            items += ["None"] * self.nones_after
            lines.append(f"    c = [{', '.join(items)}]")
        else:
            first = True
            for i, expand, nones in self.include:
                if nones:
                    lines.append(f"    c {'=' if first else '+='} [None] * {nones}")
                    first = False
                if expand:                     # the child's list is its own: extended in place, never copied
                    lines.append(f"    c = kids[{i}][1]" if first else f"    c += kids[{i}][1]")
                else:
                    lines.append(f"    c = [kids[{i}][1]]" if first else f"    c.append(kids[{i}][1])")
                first = False
            if self.nones_after:
                lines.append(f"    c += [None] * {self.nones_after}")
        if self.inline:
            lines.append("    return c, s, e")
        elif self.expand1:
            lines.append("    return (c[0] if len(c) == 1 else build(c, s, e)), s, e")
        else:
            lines.append("    return build(c, s, e), s, e")
        return "\n".join(lines) + "\n"


class Tables:
    """What the driver needs from a lark.Lark (parser="lalr", lexer="contextual", the newline post-lexer): per
    parser state, its actions (a shift is the next state >= 0, a reduction ~index into `rules`) and its lexer
    (the compiled regex `match`, the ignored terminals, keyword re-typing: terminal -> {text: keyword}).
    Lexers (lark compiles a regex for each) and reducers are made when a state or rule is first used, so a small
    file pays for what it uses; `after` remembers where a chain of `?a: b` reductions ends, so that the driver
    takes it in one step."""

    def __init__(self, parser: lark.Lark):
        try:
            table = parser.parser.parser.parser.parse_table
            lexers = parser.parser.lexer.lexer.lexers
        except AttributeError as err:
            raise Reject("lark's internals changed") from err
        rule_index: dict = {}
        lark_rules = []
        self.rules: list[Rule] = []
        self.actions: dict[int, dict[str, int]] = {}
        for state, acts in table.states.items():
            row = {}
            for term, (action, arg) in acts.items():
                if action is Shift:
                    row[term] = arg
                else:
                    if arg not in rule_index:
                        rule_index[arg] = len(self.rules)
                        self.rules.append(Rule(arg))
                        lark_rules.append(arg)
                    row[term] = ~rule_index[arg]
            self.actions[state] = row
        nullable = _nullable(lark_rules)
        for rule, lark_rule in zip(self.rules, lark_rules):
            ends = (lark_rule.expansion[0], lark_rule.expansion[-1]) if lark_rule.expansion else ()
            rule.nullable_ends = any(not sym.is_term and sym.name in nullable for sym in ends)
        self.reducers: list = [None] * len(self.rules)
        self.after: dict[tuple[int, str, str], int] = {}
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        if any(type(lexer) is not lark.lexer.BasicLexer for lexer in lexers.values()):
            raise Reject("a state lexer that is not a BasicLexer")
        self.lark_lexers = lexers
        self.lexers: dict[int, tuple] = {}
        self.made: dict[int, tuple] = {}

    def lexer(self, state: int) -> tuple:
        lexer = self.lark_lexers[state]
        made = self.made.get(id(lexer))
        if made is None:
            try:
                made = self.made[id(lexer)] = _lexer(lexer)
            except Reject as err:
                raise InternalError(f"lark {lark.__version__}'s lexers are not what mgdsl/syntax/lalr.py reads "
                                    f"({err})") from err
        self.lexers[state] = made
        return made

    def reducer(self, k: int):
        namespace: dict = {}
        exec(self.rules[k].source(), namespace)                     # source made by Rule.source from the grammar
        self.reducers[k] = namespace["reduce"]
        return self.reducers[k]

    def goto(self, below: int, origin: str, lookahead: str) -> int:
        """The state after going to `origin` from `below`, and then through every `?a: b` reduction that
        `lookahead` asks for there (each leaves the value and its place as they are)."""
        state = self.actions[below][origin]
        while state != self.end:
            action = self.actions[state].get(lookahead)
            if action is None or action >= 0 or not self.rules[~action].unit:
                break
            state = self.actions[below][self.rules[~action].origin]
        self.after[below, origin, lookahead] = state
        return state


def _nullable(rules) -> set[str]:
    """The nonterminals that can match nothing."""
    found: set[str] = set()
    grew = True
    while grew:
        grew = False
        for r in rules:
            if r.origin.name not in found and all(not s.is_term and s.name in found for s in r.expansion):
                found.add(r.origin.name)
                grew = True
    return found


def _lexer(lexer) -> tuple:
    """(match, ignored types, keyword re-typing) of one of the contextual lexer's state lexers."""
    mres = lexer.scanner._mres
    if len(mres) != 1:
        raise Reject("more than one regex")
    retype = {}
    for term, callback in lexer.callback.items():
        if type(callback) is not lark.lexer.UnlessCallback:
            raise Reject("a lexer callback that is not a keyword check")
        words = {}
        for t in callback.scanner.terminals:
            if not isinstance(t.pattern, lark.lexer.PatternStr) or t.pattern.flags:
                raise Reject("a keyword that is not a plain string")
            words[t.pattern.value] = t.name
        retype[term] = words
    return mres[0].match, lexer.ignore_types, retype or None


def run(text: str, tables: Tables, callbacks: list) -> object:
    """Parse `text`; `callbacks[i](children, start, end)` builds the value of tables.rules[i] (children shaped
    as in lark's tree; start/end the offsets of all the rule matched, None when it matched nothing). Tokens
    are tuples (type, text, start, end). Returns the start rule's value; raises Reject on a syntax error."""
    actions, lexers, make_lexer, end_state = tables.actions, tables.lexers, tables.lexer, tables.end
    reducers, origins, after, goto = tables.reducers, [r.origin for r in tables.rules], tables.after, tables.goto
    state = tables.start
    stack = [(state, None, None, None)]        # (state, value, start offset, end offset) per entry
    pos, n = 0, len(text)
    depth = 0                                  # ( and [ open: newlines inside are dropped
    prev_type = prev_value = None              # the last token passed on (the post-lexer's memory)
    while True:
        if pos < n:
            match, ignore, retype = lexers.get(state) or make_lexer(state)
            m = match(text, pos)
            if m is None:
                raise Reject(pos)
            typ = m.lastgroup
            end = m.end()
            if typ in ignore:
                pos = end
                continue
            value = m.group()
            if retype is not None and typ in retype:
                typ = retype[typ].get(value, typ)
            # the newline post-lexer (parser.py's _NewlinePostLexer, token for token)
            if typ == "_NL":
                if depth or prev_type is None or prev_type == "_NL" or prev_value in CONTINUATION_VALUES \
                        or prev_type == "CMP":
                    pos = end
                    continue
            elif value == "(" or value == "[":
                depth += 1
            elif value == ")" or value == "]":
                if depth:
                    depth -= 1
            prev_type, prev_value = typ, value
            token = (typ, value, pos, end)
            pos = end
        else:
            typ, token = "$END", None
        row = actions[state]
        while True:
            action = row.get(typ)
            if action is None:
                raise Reject(pos)
            if action >= 0:                    # shift
                if token is None:
                    raise Reject(pos)
                stack.append((action, token, token[2], token[3]))
                state = action
                break
            k = ~action
            value, s, e = (reducers[k] or tables.reducer(k))(stack, callbacks[k])
            below = stack[-1][0]
            state = after.get((below, origins[k], typ))
            if state is None:
                state = goto(below, origins[k], typ)
            stack.append((state, value, s, e))
            if token is None and state == end_state:
                return value
            row = actions[state]
