"""A small POSIX-shell parser for the commands agents run: enough structure for rules.

It splits a command line into simple commands (argv, redirections) across lists
(`;`, `&&`, `||`, `&`, newlines), pipelines and command substitutions, and then unwraps
what hides a command from a naive reader: `bash -c STR`, `sh -c`, `su -c`, `eval`,
wrappers (`sudo`, `env`, `timeout`, `nohup`, `xargs`, `find -exec` ...), here-documents,
`python -c CODE`, and base64 payloads piped into an interpreter
(`echo ... | base64 -d | sh`, `bash -c "$(echo ... | base64 -d)"`).

It is deliberately not a shell: no expansion of variables or globs (a rule sees
`$HOME/.ssh/id_rsa` as written, and the rule pack matches both spellings), and anything it
cannot make sense of degrades to plain words rather than an error. Threat-model note: the
input is written by a model that may try to evade the monitor, so every loop is bounded
(input length, recursion depth, number of commands) and nothing here executes or decodes
beyond base64/hex text.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

MAX_INPUT = 65_536  # characters parsed per command line; the rest is marked truncated
MAX_DEPTH = 6  # nesting of -c / eval / substitutions / decoded payloads
MAX_COMMANDS = 256  # simple commands kept per event
MAX_DECODED = 16_384  # bytes of a decoded payload kept

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "mksh", "fish", "rbash"})
PYTHONS = re.compile(r"^(?:python|python[23](?:\.\d+)?|pypy3?)$")
CODE_FLAGS = {"perl": "-e", "ruby": "-e", "node": "-e", "nodejs": "-e", "php": "-r", "lua": "-e"}

# Wrappers that run their argument vector as a command, with the options of theirs that
# take a value (so the value is not mistaken for the wrapped command).
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-C", "-p", "-h", "-r", "-t", "-U", "-D", "-R", "-T"}),
    "doas": frozenset({"-u", "-C"}),
    "nohup": frozenset(),
    "nice": frozenset({"-n"}),
    "ionice": frozenset({"-c", "-n", "-p"}),
    "time": frozenset({"-f", "-o"}),
    "exec": frozenset({"-a"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "setsid": frozenset(),
    "torsocks": frozenset(),
    "proxychains": frozenset({"-f"}),
    "proxychains4": frozenset({"-f"}),
    "env": frozenset({"-u", "-C", "-S"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "watch": frozenset({"-n", "-d", "--interval"}),
    "xargs": frozenset({"-I", "-n", "-P", "-d", "-E", "-L", "-s", "-a"}),
    "strace": frozenset({"-e", "-o", "-p", "-s", "-u"}),
    "ltrace": frozenset({"-e", "-o", "-p", "-s", "-u"}),
    "busybox": frozenset(),
    "taskset": frozenset(),
    "flock": frozenset({"-w", "-E"}),
    "runuser": frozenset({"-u", "-g", "-G"}),
    "chroot": frozenset({"--userspec", "--groups"}),
    "nsenter": frozenset({"-t", "--target", "-S", "-G", "--setuid", "--setgid"}),
    "unshare": frozenset(),
    "script": frozenset(),
}
# Wrappers whose first positional argument is theirs, not the wrapped command's.
_WRAPPER_POSITIONALS = {"timeout": 1, "chroot": 1, "flock": 1, "taskset": 1}

_SSH_VALUE_FLAGS = frozenset("-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w".split())
_CONTROL_WORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
)

# Bash's metacharacters end a word: blanks (space, tab; here CR too, which bash keeps in
# the word, so that a command line with CRLF line ends still shows its programs), newline
# and `| & ; ( ) < >`. Every other character, other whitespace included (form feed,
# vertical tab, no-break space), is part of a word, as in bash (`echo a$'\f'b` prints one
# word). `#` starts a comment only at the start of a word (`echo a#b` prints `a#b`).
# The common tokens in one match: a plain run, blanks, a single-quoted string, a
# double-quoted string with nothing to expand. Everything else takes the slow path below.
_FAST = re.compile(
    r"(?P<plain>[^ \t\r\n'\"\\|&;()<>`$#]+)|(?P<blank>[ \t\r]+)|'(?P<sq>[^']*)'"
    r"|\"(?P<dq>[^\"\\$`]*)\""
)
_DQ_PLAIN = re.compile(r'[^"\\$`]+')
_OPERATORS = (
    "&>>",
    "<<<",
    "<<-",
    "&&",
    "||",
    "|&",
    ";;",
    ">>",
    "<<",
    "&>",
    ">&",
    "<&",
    ">|",
    "|",
    "&",
    ";",
    "(",
    ")",
    "<",
    ">",
)
_REDIRECTS = frozenset({"&>>", "<<<", ">>", "&>", ">&", "<&", ">|", "<", ">"})
_HEREDOC = frozenset({"<<", "<<-"})
_REDIRECTS_AND_HEREDOC = _REDIRECTS | _HEREDOC
_B64_TEXT = re.compile(r"^[A-Za-z0-9+/=_\-\s]{8,}$")
_HEX_TEXT = re.compile(r"^(?:[0-9A-Fa-f]{2}\s*){4,}$")


# A value: never changed after it is made. Not `frozen=True`, which costs a call to
# object.__setattr__ per field on every construction (0.8 us against 0.3 us, several
# commands per event); `unsafe_hash` keeps it hashable and comparable as a frozen one.
@dataclass(slots=True, unsafe_hash=True)
class SimpleCommand:
    argv: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()  # (operator, target or here-doc body)
    assignments: tuple[str, ...] = ()  # leading NAME=value words
    origin: str = "direct"  # direct | wrapped | -c | eval | substitution | decoded | remote
    # The basename of argv[0], lower case (`/usr/bin/NC` -> `nc`); computed once, it is
    # read by every table lookup in commands.py.
    program: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        self.program = self.argv[0].rsplit("/", 1)[-1].lower() if self.argv else ""

    @property
    def text(self) -> str:
        return " ".join(self.argv)


@dataclass(slots=True)
class ParsedShell:
    commands: list[SimpleCommand] = field(default_factory=list)
    decoded: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)  # interpreter code (python -c, heredoc)
    truncated: bool = False


@dataclass(slots=True)
class _Lexed:
    tokens: list[tuple[bool, str]]  # (is_operator, text)
    substitutions: list[str]
    heredocs: list[str]


def _match_close(s: str, i: int, opening: str, closing: str) -> int:
    """Index of the bracket closing the one at s[i], skipping quoted text; len(s) if none."""
    depth, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            j = s.find("'", i + 1)
            i = n if j < 0 else j + 1
            continue
        if c == '"':
            i = _end_of_double_quote(s, i + 1)
            continue
        if c == opening:
            depth += 1
        elif c == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return n


def _end_of_double_quote(s: str, i: int) -> int:
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "$" and i + 1 < n and s[i + 1] == "(":
            i = _match_close(s, i + 1, "(", ")") + 1
        else:
            i += 1
    return n


_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "e": "\x1b"}


def _ansi_c(body: str) -> str:
    """$'...' quoting: decode \\xHH, \\NNN (octal) and the usual letters."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "x":
            m = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 : i + 4])
            if m:
                out.append(chr(int(m.group(), 16)))
                i += 2 + len(m.group())
                continue
        if nxt.isdigit():
            m = re.match(r"[0-7]{1,3}", body[i + 1 : i + 4])
            if m:
                out.append(chr(int(m.group(), 8)))
                i += 1 + len(m.group())
                continue
        out.append(_ANSI_ESCAPES.get(nxt, "\\" + nxt))
        i += 2
    return "".join(out)


# The fast path of the lexer, for the common command line: words made of plain runs,
# 'single-quoted' and "double-quoted" pieces with nothing to expand, separated by blanks
# (space, tab, CR), newlines and operators other than here-documents; a `#` inside a word
# is part of it. `findall` tiles such a line with tokens; a character no alternative
# accepts (a backslash, a backtick, `$(` `${` `$'`, a `#` starting a word, `<<`, an
# unterminated quote) is skipped by `findall`, so the tokens then cover less than the
# line and the general lexer runs instead. On a line they tile, the result is the general
# lexer's token for token (checked by a property test on generated input:
# tests/unit/monitor/test_monitor_fast_paths.py).
# A lone `$` (not `$(`, `${`, `$'`), a single-quoted or a double-quoted piece of a word.
_QUOTED = r"\$(?![('{])|'[^']*+'|\"[^\"\\$`]*+(?:\$(?!\()[^\"\\$`]*+)*+\""
_FAST_TOKEN = re.compile(  # a word (not starting with `#`) | an operator | blanks
    r"((?:[^ \t\r\n'\"\\|&;()<>`$#]++|" + _QUOTED + r")"
    r"(?:[^ \t\r\n'\"\\|&;()<>`$]++|" + _QUOTED + r")*+)"
    r"|(&>>|<<<|&&|\|\||\|&|;;|>>|&>|>&|<&|>\||[|&;()>\n]|<(?!<))"  # not `<<`
    r"|([ \t\r]++)"
)
_QUOTED_PIECE = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def _unquote_piece(m: re.Match[str]) -> str:
    return m[1] or m[2] or ""


def _lex_fast(s: str) -> _Lexed | None:
    """The lexer's result for a line without expansions, escapes or here-documents, or
    None."""
    tokens: list[tuple[bool, str]] = []
    covered = 0
    after_word = False  # the previous piece was a word, with no blank since
    for word, op, blank in _FAST_TOKEN.findall(s):
        if op:
            if after_word and op[0] in "<>" and tokens[-1][1].isdigit():
                tokens.pop()  # `2>`, `1>&2`: a file descriptor, not a word
            covered += len(op)
            tokens.append((True, op))
            after_word = False
        elif word:
            covered += len(word)
            if "'" in word or '"' in word:
                word = _QUOTED_PIECE.sub(_unquote_piece, word)
            tokens.append((False, word))
            after_word = True
        else:
            covered += len(blank)
            after_word = False
    return _Lexed(tokens, [], []) if covered == len(s) else None


def _lex(s: str) -> _Lexed:
    fast = _lex_fast(s)
    return fast if fast is not None else _lex_general(s)


def _lex_general(s: str) -> _Lexed:
    tokens: list[tuple[bool, str]] = []
    subs: list[str] = []
    heredocs: list[str] = []
    pending: list[tuple[str, bool]] = []  # here-doc delimiters awaiting their bodies
    want_delimiter = False
    strip_tabs = False
    word: list[str] = []
    in_word = False
    i, n = 0, len(s)

    while i < n:
        m = _FAST.match(s, i)
        if m is not None:
            kind = m.lastgroup
            if kind == "blank":
                if in_word:
                    text = "".join(word)
                    tokens.append((False, text))
                    if want_delimiter:
                        pending.append((text, strip_tabs))
                        want_delimiter = False
                    word.clear()
                    in_word = False
            else:
                word.append(m.group(kind or 0))
                in_word = True
            i = m.end()
            continue
        c = s[i]
        if c in " \t\r":
            if in_word:
                text = "".join(word)
                tokens.append((False, text))
                if want_delimiter:
                    pending.append((text, strip_tabs))
                    want_delimiter = False
                word.clear()
                in_word = False
            i += 1
        elif c == "\n":
            if in_word:
                text = "".join(word)
                tokens.append((False, text))
                if want_delimiter:
                    pending.append((text, strip_tabs))
                    want_delimiter = False
                word.clear()
                in_word = False
            tokens.append((True, "\n"))
            i += 1
            for delimiter, tabs in pending:
                body: list[str] = []
                while i < n:
                    j = s.find("\n", i)
                    line = s[i:] if j < 0 else s[i:j]
                    i = n if j < 0 else j + 1
                    if (line.lstrip("\t") if tabs else line) == delimiter:
                        break
                    body.append(line)
                heredocs.append("\n".join(body))
            pending.clear()
        elif c == "'":
            j = s.find("'", i + 1)
            j = n if j < 0 else j
            word.append(s[i + 1 : j])
            in_word = True
            i = j + 1
        elif c == '"':
            end = _end_of_double_quote(s, i + 1)
            body_text = s[i + 1 : end - 1] if end <= n and s[end - 1 : end] == '"' else s[i + 1 :]
            word.append(_unquote_double(body_text, subs))
            in_word = True
            i = end
        elif c == "\\":
            if i + 1 < n and s[i + 1] != "\n":
                word.append(s[i + 1])
                in_word = True
            i += 2
        elif c == "`":
            j = s.find("`", i + 1)
            j = n if j < 0 else j
            subs.append(s[i + 1 : j])
            word.append(s[i : j + 1])
            in_word = True
            i = j + 1
        elif c == "$":
            nxt = s[i + 1 : i + 2]
            if nxt == "(":
                j = _match_close(s, i + 1, "(", ")")
                if not s.startswith("$((", i):
                    subs.append(s[i + 2 : j])
                word.append(s[i : j + 1])
                i = j + 1
            elif nxt == "'":
                j = i + 2
                while j < n and s[j] != "'":
                    j += 2 if s[j] == "\\" else 1
                word.append(_ansi_c(s[i + 2 : j]))
                i = j + 1
            elif nxt == "{":
                j = _match_close(s, i + 1, "{", "}")
                word.append(s[i : j + 1])
                i = j + 1
            else:
                word.append("$")
                i += 1
            in_word = True
        elif c == "#":
            if in_word:  # `a#b`: a `#` inside a word is an ordinary character
                word.append("#")
                i += 1
            else:  # a comment, to the end of the line
                j = s.find("\n", i)
                i = n if j < 0 else j
        else:  # an operator character: one of | & ; ( ) < >
            fd = "".join(word) if in_word and c in "<>" else ""
            if fd.isdigit():  # `2>`, `1>&2`: the digits are a file descriptor, not a word
                word.clear()
                in_word = False
            if in_word:
                text = "".join(word)
                tokens.append((False, text))
                if want_delimiter:
                    pending.append((text, strip_tabs))
                    want_delimiter = False
                word.clear()
                in_word = False
            for op in _OPERATORS:
                if s.startswith(op, i):
                    break
            tokens.append((True, op))
            if op in _HEREDOC:
                want_delimiter = True
                strip_tabs = op == "<<-"
            i += len(op)
    if in_word:
        tokens.append((False, "".join(word)))
    return _Lexed(tokens, subs, heredocs)


def _unquote_double(body: str, subs: list[str]) -> str:
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        m = _DQ_PLAIN.match(body, i)
        if m is not None:
            out.append(m.group())
            i = m.end()
            continue
        c = body[i]
        if c == "\\":
            nxt = body[i + 1 : i + 2]
            out.append(nxt if nxt in '"\\$`' else "\\" + nxt)
            i += 2
        elif c == "$" and body[i + 1 : i + 2] == "(":
            j = _match_close(body, i + 1, "(", ")")
            if not body.startswith("$((", i):
                subs.append(body[i + 2 : j])
            out.append(body[i : j + 1])
            i = j + 1
        elif c == "`":
            j = body.find("`", i + 1)
            j = n if j < 0 else j
            subs.append(body[i + 1 : j])
            out.append(body[i : j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _simple(argv: list[str], redirects: list[tuple[str, str]], origin: str) -> SimpleCommand:
    k, n = 0, len(argv)
    while k < n and _is_assignment(argv[k]):
        k += 1
    assignments = tuple(argv[:k])
    while k < n and argv[k] in _CONTROL_WORDS:
        k += 1
    if k < n and argv[k] in ("for", "case"):
        k = n  # `for x in a b` names no program; its body follows `do`
    return SimpleCommand(tuple(argv[k:]), tuple(redirects), assignments, origin)


def _split(lexed: _Lexed, origin: str = "direct") -> list[list[SimpleCommand]]:
    """Tokens -> pipelines -> simple commands."""
    pipelines: list[list[SimpleCommand]] = []
    pipeline: list[SimpleCommand] = []
    argv: list[str] = []
    redirects: list[tuple[str, str]] = []
    heredocs = iter(lexed.heredocs)
    tokens = lexed.tokens
    i, n = 0, len(tokens)
    while i < n:
        is_op, text = tokens[i]
        i += 1
        if not is_op:
            argv.append(text)
        elif text in _REDIRECTS_AND_HEREDOC:
            target = ""
            if i < n and not tokens[i][0]:
                target = tokens[i][1]
                i += 1
            if text in _HEREDOC:
                redirects.append(("<<", next(heredocs, "")))
            else:
                redirects.append((text, target))
        else:  # | |& ; && || & newline ( ) ;; end a command; all but a pipe its pipeline
            if argv or redirects:
                pipeline.append(_simple(argv, redirects, origin))
                argv, redirects = [], []
            if pipeline and text != "|" and text != "|&":
                pipelines.append(pipeline)
                pipeline = []
    if argv or redirects:
        pipeline.append(_simple(argv, redirects, origin))
    if pipeline:
        pipelines.append(pipeline)
    return pipelines


def _is_assignment(word: str) -> bool:
    return "=" in word and word.partition("=")[0].isidentifier()


def decode_base64(text: str) -> str | None:
    """Printable text behind a base64 (or hex) string, or None."""
    compact = "".join(text.split())
    if not compact or len(compact) > 4 * MAX_DECODED:
        return None
    raw: bytes | None = None
    if _B64_TEXT.match(compact):
        padded = compact + "=" * (-len(compact) % 4)
        try:
            raw = base64.b64decode(
                padded, altchars=b"-_" if "-" in compact or "_" in compact else None
            )
        except (binascii.Error, ValueError):
            raw = None
    if raw is None and _HEX_TEXT.match(text.strip()):
        try:
            raw = bytes.fromhex(compact)
        except ValueError:
            raw = None
    if not raw:
        return None
    try:
        decoded = raw[:MAX_DECODED].decode("utf-8")
    except UnicodeDecodeError:
        return None
    printable = sum(ch.isprintable() or ch in "\n\t\r" for ch in decoded)
    return decoded if printable >= 0.9 * len(decoded) else None


_DECODERS = frozenset({"base64", "base32", "basenc", "openssl", "xxd"})  # see _is_decoder


def _is_decoder(cmd: SimpleCommand) -> bool:
    prog, args = cmd.program, cmd.argv[1:]
    if prog in ("base64", "base32", "basenc"):
        return any(a in ("-d", "--decode", "-D") or (a.startswith("-") and "d" in a) for a in args)
    if prog == "openssl":
        return "-d" in args and any("base64" in a or a == "-a" for a in args)
    if prog == "xxd":
        return "-r" in args or "-rp" in args or "-r -p" in " ".join(args)
    return False


def _source_text(cmd: SimpleCommand) -> str | None:
    """What a pipeline stage writes to stdout when it only echoes literal text."""
    if cmd.program in ("echo", "printf") and len(cmd.argv) > 1:
        words = [a for a in cmd.argv[1:] if not (a.startswith("-") and len(a) <= 3)]
        return " ".join(words) if words else None
    for op, target in cmd.redirects:
        if op in ("<<<", "<<"):
            return target
    return None


# Programs _command looks inside (every branch below names its programs here).
_UNWRAPPED = (
    SHELLS
    | CODE_FLAGS.keys()
    | _WRAPPERS.keys()
    | {"su", "eval", "find", "ssh", "sshpass", "docker", "podman", "kubectl", "oc"}
)


def _is_python(prog: str) -> bool:
    return prog.startswith("py") and PYTHONS.match(prog) is not None  # all start with "py"


def _is_interpreter(prog: str) -> bool:
    return prog in SHELLS or _is_python(prog) or prog in CODE_FLAGS


class _Parser:
    def __init__(self) -> None:
        self.out = ParsedShell()
        # A substitution inside `bash -c "..."` is met twice: in the outer command line
        # and again when the -c script is parsed. Parse it once.
        self._seen: dict[str, list[str]] = {}

    def parse(self, text: str, depth: int, origin: str) -> list[str]:
        """Parse `text`, adding commands; returns payloads decoded from its pipelines."""
        if depth > MAX_DEPTH or len(self.out.commands) >= MAX_COMMANDS:
            return []
        if len(text) > MAX_INPUT:
            text = text[:MAX_INPUT]
            self.out.truncated = True
        lexed = _lex(text)
        produced: list[str] = []
        for sub in lexed.substitutions:
            if sub not in self._seen:
                self._seen[sub] = self.parse(sub, depth + 1, "substitution")
            produced.extend(self._seen[sub])
        for pipeline in _split(lexed, origin):
            produced.extend(self._pipeline(pipeline, depth, origin))
        return produced

    def _pipeline(self, pipeline: list[SimpleCommand], depth: int, origin: str) -> list[str]:
        decoded: list[str] = []
        flowing: str | None = None  # literal text flowing down the pipe, when known
        for cmd in pipeline:
            self._command(cmd, depth, origin, stdin=flowing)
            if cmd.program in _DECODERS and _is_decoder(cmd):
                source = flowing if flowing is not None else _source_text(cmd)
                text = decode_base64(source) if source else None
                if text is not None:
                    self.out.decoded.append(text)
                    decoded.append(text)
                flowing = text
            elif cmd.program in ("echo", "printf", "cat"):
                flowing = _source_text(cmd)
            else:
                flowing = None
        return decoded

    def _command(
        self, cmd: SimpleCommand, depth: int, origin: str, *, stdin: str | None = None
    ) -> None:
        if len(self.out.commands) >= MAX_COMMANDS:
            return
        if origin != cmd.origin:
            cmd = SimpleCommand(cmd.argv, cmd.redirects, cmd.assignments, origin)
        self.out.commands.append(cmd)
        prog, argv = cmd.program, cmd.argv
        if (
            prog not in _UNWRAPPED
            and not prog.startswith("py")  # python*, pypy*: see _is_python
            and stdin is None
            and not cmd.redirects
        ):
            return  # the common case: a program that hides no other command
        for op, body in cmd.redirects:
            if op == "<<" and body:
                self._interpret(prog, body, depth)
        if stdin is not None and _is_interpreter(prog):
            self._interpret(prog, stdin, depth, origin="decoded")
        if prog in SHELLS or prog == "su":
            self._shell_c(argv, depth)
        elif prog == "eval":
            self._script(" ".join(argv[1:]), depth, "eval")
        elif _is_python(prog) or prog in CODE_FLAGS:
            flag = "-c" if _is_python(prog) else CODE_FLAGS[prog]
            for k, arg in enumerate(argv[1:-1], start=1):
                if arg == flag or (prog == "node" and arg == "--eval"):
                    self.out.code.append(argv[k + 1])
                    break
        elif prog in _WRAPPERS:
            inner = _unwrap(prog, argv)
            if inner:
                self._command(SimpleCommand(inner, origin="wrapped"), depth + 1, "wrapped")
        elif prog == "find":
            for k, arg in enumerate(argv):
                if arg in ("-exec", "-execdir", "-ok", "-okdir") and k + 1 < len(argv):
                    words: list[str] = []
                    for word in argv[k + 1 :]:
                        if word in (";", "+", "\\;"):
                            break
                        words.append(word)
                    if words:
                        wrapped = SimpleCommand(tuple(words), origin="wrapped")
                        self._command(wrapped, depth + 1, "wrapped")
        elif prog in ("ssh", "sshpass"):
            remote = _ssh_remote(argv)
            if remote:
                self._script(" ".join(remote), depth, "remote")
        elif prog in ("docker", "podman", "kubectl", "oc") and "exec" in argv[1:3]:
            inner = _exec_inner(argv)
            if inner:
                self._command(SimpleCommand(inner, origin="remote"), depth + 1, "remote")

    def _interpret(self, prog: str, text: str, depth: int, origin: str = "decoded") -> None:
        if prog in SHELLS:
            self._script(text, depth, origin)
        elif _is_python(prog) or prog in CODE_FLAGS:
            self.out.code.append(text)

    def _script(self, text: str, depth: int, origin: str) -> None:
        produced = self.parse(text, depth + 1, origin)
        # `bash -c "$(echo ... | base64 -d)"`: the substitution's output is the script.
        for payload in produced:
            if text.strip().startswith(("$(", "`")):
                self.parse(payload, depth + 2, "decoded")

    def _shell_c(self, argv: tuple[str, ...], depth: int) -> None:
        for k, arg in enumerate(argv[1:], start=1):
            if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
                rest = [a for a in argv[k + 1 :] if not a.startswith("-")]
                if rest:
                    self._script(rest[0], depth, "-c")
                return


def _unwrap(prog: str, argv: tuple[str, ...]) -> tuple[str, ...]:
    takes_value = _WRAPPERS[prog]
    positionals = _WRAPPER_POSITIONALS.get(prog, 0)
    k = 1
    while k < len(argv):
        arg = argv[k]
        if arg == "--":
            k += 1
            break
        if arg.startswith("-") and len(arg) > 1:
            k += 2 if arg in takes_value else 1
            continue
        if prog == "env" and _is_assignment(arg):
            k += 1
            continue
        if positionals:
            positionals -= 1
            k += 1
            continue
        break
    return argv[k:]


def _ssh_remote(argv: tuple[str, ...]) -> tuple[str, ...]:
    k = 1
    if argv[0].endswith("sshpass"):
        while k < len(argv) and argv[k].startswith("-"):
            k += 2 if argv[k] in ("-p", "-f", "-d") else 1
        if k >= len(argv) or not argv[k].endswith("ssh"):
            return ()
        k += 1
    host_seen = False
    while k < len(argv):
        arg = argv[k]
        if arg.startswith("-") and not host_seen:
            k += 2 if arg in _SSH_VALUE_FLAGS else 1
            continue
        if not host_seen:
            host_seen = True
            k += 1
            continue
        return argv[k:]
    return ()


def _exec_inner(argv: tuple[str, ...]) -> tuple[str, ...]:
    if "--" in argv:
        return argv[argv.index("--") + 1 :]
    k = argv.index("exec") + 1
    value_flags = {"-e", "--env", "-u", "--user", "-w", "--workdir", "-c", "--container", "-n"}
    while k < len(argv) and argv[k].startswith("-"):
        k += 2 if argv[k] in value_flags else 1
    return argv[k + 1 :]  # skip the container / pod name


def parse(text: str) -> ParsedShell:
    """Parse a command line into simple commands, decoded payloads and interpreter code."""
    parser = _Parser()
    parser.parse(text, 0, "direct")
    return parser.out


__all__ = ["MAX_COMMANDS", "ParsedShell", "SimpleCommand", "decode_base64", "parse"]
