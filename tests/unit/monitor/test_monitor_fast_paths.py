"""The monitor's fast paths agree with the general paths they shortcut.

Each shortcut (the lexer's fast path, the IPv4 fast path, the anchored-prefix gate in
front of RE2, the direct RE2 calls, the bit-mask rule index) is checked against the
general code on generated input: the fast path must give the general path's answer, or
step aside.
"""

from __future__ import annotations

import ipaddress
import re
from importlib import resources

import orjson
import re2
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclave.monitor import RuleEngine, Scope
from enclave.monitor.facts import ip_or_network
from enclave.monitor.interface import ToolCall
from enclave.monitor.matcher import EventView, _searcher, anchored_prefixes
from enclave.monitor.normalise import call_event
from enclave.monitor.shell import _lex_fast, _lex_general

SCOPE = ("host:10.20.0.0/16", "domain:acme.example", "repo:https://git.acme.example/team/app")

# Pieces of command lines: words, quotes of both kinds, expansions, operators, blanks
# other than space, here-documents, comments, unterminated quotes; `#` and whitespace that
# is not a blank (form feed, vertical tab, no-break space) inside words and between them.
PIECES = st.sampled_from(
    [
        "cat", "ls", "-la", "/etc/passwd", "~/.ssh/id_rsa", "a", "b", "2", "x=1", "$HOME",
        "$", "'", '"', "\\", "`", "$(", "${", "$'", ")", "}", "#", "<<", "<<<", "<<-",
        "<", ">", ">>", "2>", "&>", ">&", "|", "||", "&", "&&", ";", ";;", "(", "\n",
        " ", " ", "  ", "\t", "\r", "\x0c", "\xa0", "\v", "'a b'", '"c d"', '"$x"',
        '"a$(id)"', "'", "é", "=", "*", "for", "do", "a#b", "x#", "$#", "/tmp/a#b",
        "a\x0cb", "a\xa0b", "a\vb", "'q'#r", '"q"#', "https://x.example/#/p",
    ]
)  # fmt: skip
COMMAND_LINES = st.lists(PIECES, max_size=30).map("".join)


@settings(max_examples=800, deadline=None)
@given(
    st.one_of(
        COMMAND_LINES,
        st.text(alphabet="ab 2\t\n\x0c\v\xa0'\"\\`$(){}|&;<>#=", max_size=40),
    )
)
def test_the_fast_lexer_gives_the_general_lexers_tokens_or_steps_aside(text: str) -> None:
    fast = _lex_fast(text)
    if fast is not None:
        general = _lex_general(text)
        assert (fast.tokens, fast.substitutions, fast.heredocs) == (
            general.tokens,
            general.substitutions,
            general.heredocs,
        )


def test_the_fast_lexer_takes_common_command_lines() -> None:
    for text in (
        "nmap -sV -p 80,443 10.20.4.0/24 -oN scan.txt",
        "grep -rnE '(api_key|secret)\\s*=' app/ --include=*.py 2>/dev/null | head",
        'curl -X POST -H "Content-Type: application/json" -d @t.json https://x.example',
        "echo $HOME; ls -la ~/.ssh && cat a >> b",
        "curl -s https://docs.acme.example/guide#install -o a#b.html",
        "cat notes\x0cpage2 a\xa0b",
    ):
        assert _lex_fast(text) is not None
    for text in ("cat <<EOF\nx\nEOF", "echo $(id)", "echo 'open", "a\\ b", "ls # c"):
        assert _lex_fast(text) is None


def _reference_ip_or_network(token: str) -> str | None:
    """ip_or_network before its fast paths: ipaddress decides everything."""
    if re.match(r"^\[?[0-9A-Fa-f:.]+\]?(?:/\d{1,3}|-\d{1,3})?$", token) is None or (
        "." not in token and ":" not in token
    ):
        return None
    candidate = token.strip("[]")
    try:
        if "/" in candidate:
            return str(ipaddress.ip_network(candidate, strict=False))
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        pass
    m = re.match(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$", candidate)
    if m and int(m.group(2)) <= int(m.group(3)) <= 255:
        try:
            ipaddress.ip_address(m.group(1) + m.group(2))
        except ValueError:
            return None
        return candidate
    return None


OCTETS = st.sampled_from(["0", "1", "9", "10", "01", "00", "99", "199", "249", "255", "256"])
QUADS = st.builds(
    lambda parts, tail, bracket: ("[" if bracket else "") + ".".join(parts) + tail,
    st.lists(OCTETS, min_size=3, max_size=5),
    st.sampled_from(["", "", "/0", "/8", "/24", "/32", "/33", "/024", "-50", "-300", "]"]),
    st.booleans(),
)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(QUADS, st.text(alphabet="0123456789abcdefABCDEF:.[]/-", max_size=16)))
def test_ip_or_network_fast_paths_agree_with_ipaddress(token: str) -> None:
    assert ip_or_network(token) == _reference_ip_or_network(token)


def _shipped_regexes() -> list[str]:
    """Every case-sensitive `|re` value of the shipped rules."""
    found: list[str] = []
    for path in sorted((resources.files("enclave.monitor") / "rules").iterdir()):
        if not path.name.endswith(".yml"):
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            for block in (doc or {}).get("detection", {}).values():
                for key, value in block.items() if isinstance(block, dict) else ():
                    if key.split("|")[1:] == ["re"]:
                        found.extend(value if isinstance(value, list) else [value])
    return found


GATED = [(p, anchored_prefixes(p)) for p in _shipped_regexes() if anchored_prefixes(p)]


def test_most_shipped_command_regexes_get_a_prefix_gate() -> None:
    assert len(GATED) >= 30
    assert anchored_prefixes(r"^(ssh|autossh)\s(.*\s)?-[A-Za-z]*[DRLw](\s|$)") == (
        "ssh",
        "autossh",
    )
    assert anchored_prefixes(r"^ab?c") == ("a",)
    for shapeless in (r"^(a|b)?c", r"^a|b", r"(?i)^abc", r"^(?:a|b)c", r"^[a-z]+", r"x^a"):
        assert anchored_prefixes(shapeless) == ()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_value_without_the_prefix_never_matches(data: st.DataObject) -> None:
    for pattern, prefixes in GATED:
        compiled = re2.compile(pattern)
        match = data.draw(st.from_regex(re.compile(pattern)), label=pattern)
        noise = data.draw(st.text(alphabet="abcdpsu -/\t\n", max_size=8))
        for text in (match, noise + match, match[1:], match.upper()):
            if compiled.search(text) is not None:
                assert text.startswith(prefixes), (pattern, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="psudo -efxl\t\nroot/bin/shé", max_size=24))
def test_the_direct_re2_call_answers_as_search(text: str) -> None:
    for pattern in [p for p, _ in GATED[:8]] + [r"(?i)api\.github\.com/gists", r"(\s|$)"]:
        compiled = re2.compile(pattern)
        assert _searcher(compiled)(text) is (compiled.search(text) is not None)


SHELL_WORDS = st.sampled_from(
    [
        "cat", "/etc/shadow", "~/.ssh/id_rsa", "curl", "-d", "@/root/.aws/credentials",
        "https://evil.example/x", "nc", "-e", "/bin/sh", "10.20.1.5", "203.0.113.9", "4444",
        "bash", "-c", "'id'", "sudo", "su", "crontab", "-e", "rm", "-rf", "/var/log",
        "history", "-c", "ssh", "-D", "1080", "ops@10.20.1.10", "ps", "aux", "|", "&&", ";",
        "chmod", "u+s", "/tmp/b", "git", "push", "--force", "docker", "-H", "tcp://x:2375",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SHELL_WORDS, min_size=1, max_size=12))
def test_the_pre_filter_never_hides_a_match(engine: RuleEngine, words: list[str]) -> None:
    """Matches through the literal pre-filter (RE2 set, bit masks) are exactly the rules
    whose predicate holds when every rule is evaluated."""
    arguments = orjson.dumps({"command": " ".join(words)}).decode()
    event = call_event(ToolCall(id="c1", name="bash", arguments=arguments, api="openai"))
    scope = Scope.parse(SCOPE)
    scoped = engine.with_scope(event, scope)
    view = EventView(scoped)
    every = tuple(
        rule.id
        for rule in engine.rules.for_calls
        if rule.required <= scoped.fields.keys() and rule.predicate(view)
    )
    assert engine.match(event, scope).ids == every
