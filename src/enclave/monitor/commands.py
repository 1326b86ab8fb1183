"""What a parsed shell command (or a snippet of Python) reads, writes, deletes and contacts.

Knowledge of common programs' argument conventions, kept as tables. A program not in the
tables still contributes: its path-like arguments count as read, its URL and IP-address
arguments as contacted (a script given an address almost always connects to it), so an
unknown exploit script is judged by scope like any known tool.
"""

from __future__ import annotations

import re

from enclave.monitor.facts import (
    EMAIL,
    EMAIL_IN_TEXT,
    URL_IN_TEXT,
    Facts,
    ip_or_network,
    is_url,
    looks_like_path,
)
from enclave.monitor.shell import ParsedShell, SimpleCommand, parse

READERS = frozenset(
    """cat tac less more head tail nl strings xxd hexdump od base64 base32 zcat bzcat xzcat
    zless bat view pr fold column iconv sort uniq wc cut diff cmp md5sum sha1sum sha256sum
    sha512sum source . unzip gunzip strings readelf objdump file gpg shred-check tee-read
    vim vi nvim nano emacs pico ed sqlite3 openssl exiftool pdftotext""".split()
)
EDITORS = frozenset({"vim", "vi", "nvim", "nano", "emacs", "pico", "ed"})
PATTERN_FIRST = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack", "awk", "gawk", "jq", "yq"})
DELETERS = frozenset({"rm", "unlink", "shred", "srm", "wipe", "rmdir"})
WRITERS = frozenset(
    {"touch", "truncate", "mkdir", "chmod", "chown", "chgrp", "chattr", "setfacl", "tee"}
)
LISTERS = frozenset({"ls", "stat", "du", "find", "cd", "tree", "locate", "realpath", "test", "["})
TEXT_ONLY = frozenset(
    """echo printf grep egrep fgrep rg ag sed awk gawk jq yq sort uniq tr cut wc head tail tee
    test [ expr true false sleep date basename dirname git-commit column fold cat less more
    ls mkdir touch man help which type whoami id hostname uname pwd""".split()
)
URL_CLIENTS = frozenset({"curl", "wget", "http", "https", "aria2c", "lynx", "links", "w3m", "xh"})
HOST_FIRST = frozenset(
    """nc ncat netcat telnet ping ping6 traceroute traceroute6 tracepath mtr fping arping
    hping3 whois host nslookup dig ftp tftp sftp mosh rpcclient enum4linux enum4linux-ng
    smbmap rdesktop xfreerdp ssh sshpass autossh""".split()
)
SCANNERS = frozenset(
    """nmap masscan rustscan zmap unicornscan naabu sslscan sslyze testssl testssl.sh
    nikto whatweb wafw00f hydra medusa ncrack crackmapexec cme netexec nxc evil-winrm
    gobuster ffuf feroxbuster dirb dirsearch wfuzz wpscan nuclei sqlmap amass subfinder
    dnsrecon fierce onesixtyone snmpwalk smbclient ldapsearch kerbrute responder
    mysql psql mongo mongosh redis-cli nmblookup""".split()
)
MAILERS = frozenset({"mail", "mailx", "sendmail", "mutt", "msmtp", "swaks", "ssmtp", "neomutt"})
# Option values (`-o FILE`, `-p 80`) that are not targets, per family.
_VALUE_FLAGS = {
    "nmap": {
        "-p",
        "-oN",
        "-oX",
        "-oG",
        "-oA",
        "-oS",
        "--script",
        "-iL",
        "--top-ports",
        "-e",
        "-S",
        "-D",
        "--exclude",
        "--script-args",
        "-T",
        "--min-rate",
        "--max-rate",
        "-g",
        "--source-port",
        "--excludefile",
        "-iR",
    },
    "curl": {
        "-o",
        "--output",
        "-H",
        "--header",
        "-A",
        "--user-agent",
        "-u",
        "--user",
        "-X",
        "--request",
        "-e",
        "--referer",
        "-b",
        "--cookie",
        "-c",
        "--cookie-jar",
        "-w",
        "--write-out",
        "-m",
        "--max-time",
        "--connect-timeout",
        "--resolve",
        "-x",
        "--proxy",
        "--cacert",
        "--cert",
        "--key",
        "-E",
        "--retry",
        "--data-urlencode",
        "--unix-socket",
        "--mail-from",
        "--mail-rcpt",
        "-K",
        "--config",
        "-r",
        "--range",
    },
    "wget": {
        "-O",
        "--output-document",
        "-o",
        "--output-file",
        "-U",
        "--user-agent",
        "--header",
        "-P",
        "--directory-prefix",
        "-t",
        "--tries",
        "-T",
        "--timeout",
        "--post-data",
        "--post-file",
        "--body-data",
        "--body-file",
        "--method",
        "-i",
        "--input-file",
        "--user",
        "--password",
    },
}
_DATA_FLAGS = frozenset(
    {
        "-d",
        "--data",
        "--data-raw",
        "--data-binary",
        "--data-ascii",
        "--json",
        "-F",
        "--form",
        "-T",
        "--upload-file",
        "--data-urlencode",
    }
)
_PY_SHELL = re.compile(
    r"(?:os\.system|os\.popen|subprocess\.\w+|commands\.getoutput|pty\.spawn|os\.exec\w*)"
    r"\(\s*(?:\[([^\]]*)\]|([rbuf]?)(['\"])((?:\\.|(?!\3).)*)\3)",
    re.S,
)
_PY_STRING = re.compile(r"(['\"])((?:\\.|(?!\1).){1,512})\1")
_PY_OPEN = re.compile(
    r"\bopen\(\s*[rbuf]?(['\"])([^'\"]{1,512})\1(?:\s*,\s*[rbuf]?(['\"])([rwabx+t]+)\3)?"
)
_PY_SOCKET = re.compile(r"connect\(\s*\(\s*(['\"])([^'\"]+)\1\s*,\s*(\d{1,5})\s*\)")
_DEV_TCP = re.compile(r"^/dev/(?:tcp|udp)/([^/]+)/(\d+)")
_SCP_REPO = re.compile(r"^[\w.\-]+@[\w.\-]+:[\w./\-~]+$")


NETWORK_PROGRAMS = SCANNERS | HOST_FIRST
FILE_PROGRAMS = READERS | DELETERS | WRITERS

# Option sets, built once (a set literal passed as an argument is rebuilt on every call).
_METHOD_FLAGS = frozenset({"-X", "--request", "--method"})
_BODY_FLAGS = _DATA_FLAGS | {"--post-data", "--post-file", "--body-data", "--body-file"}
_UPLOAD_FILE_FLAGS = frozenset({"-T", "--upload-file", "--post-file", "--body-file"})
_OUTPUT_FLAGS = frozenset({"-o", "--output", "-O", "--output-document"})
_MAIL_RCPT_FLAGS = frozenset({"--mail-rcpt"})
_UNIX_SOCKET_FLAGS = frozenset({"--unix-socket"})
_UPLOAD_FLAGS = frozenset({"-T", "--upload-file"})
_URL_CLIENT_VALUE_FLAGS = {
    name: frozenset(flags | _DATA_FLAGS) for name, flags in _VALUE_FLAGS.items()
}
_HOST_FIRST_VALUE_FLAGS = frozenset(
    "-e -c -p -w -i -l -s -q -o -F -J -L -R -D -W -b -t -U -P -x -m -I -T".split()
)
_SCANNER_TARGET_FLAGS = frozenset(
    "-u --url -target --target -h --host -H -i -t --dc-ip -dc-ip -d --domain".split()
)
_SCANNER_LIST_FLAGS = frozenset({"-iL", "-l", "--list", "-r", "-w"})
_SCANNER_OUTPUT_FLAGS = frozenset({"-oN", "-oX", "-oA", "-oG", "-o", "--output"})
_MAILER_TO_FLAGS = frozenset({"--to", "-t", "--cc", "--bcc", "-c", "-b"})
_MAILER_SERVER_FLAGS = frozenset({"--server", "-s"})


def _program(cmd: SimpleCommand) -> str:
    prog = cmd.program
    if prog.endswith(".py") and prog[:-3] in NETWORK_PROGRAMS:
        return prog[:-3]
    return prog


def _positionals(argv: tuple[str, ...], value_flags: frozenset[str] | set[str]) -> list[str]:
    out: list[str] = []
    k = 1
    while k < len(argv):
        arg = argv[k]
        if arg.startswith("-") and len(arg) > 1:
            k += 2 if arg in value_flags else 1
            continue
        out.append(arg)
        k += 1
    return out


def _option_values(argv: tuple[str, ...], flags: frozenset[str] | set[str]) -> list[str]:
    values = [argv[k + 1] for k in range(len(argv) - 1) if argv[k] in flags]
    for arg in argv:
        if "=" in arg:
            name, _, value = arg.partition("=")
            if name in flags:
                values.append(value)
    return values


def shell_facts(text: str, facts: Facts) -> ParsedShell:
    """Parse a command line and record everything it reads, writes and contacts."""
    parsed = parse(text)
    facts.text("command", text)
    for cmd in parsed.commands:
        command_facts(cmd, facts)
    for payload in parsed.decoded:
        facts.text("decoded", payload)
    for code in parsed.code:
        code_facts(code, facts)
    if parsed.truncated:
        facts.add("parse_error", "command line truncated")
    return parsed


def command_facts(cmd: SimpleCommand, facts: Facts) -> None:
    prog = _program(cmd)
    argv = cmd.argv
    if argv:
        facts.add("executable", prog)
        facts.text("commands", " ".join(argv))
        facts.extend("args", [arg[:512] for arg in argv[1:]])
    for op, target in cmd.redirects:
        if op == "<<":
            facts.text("content", target)
            continue
        m = _DEV_TCP.match(target)
        if m:  # bash's /dev/tcp/HOST/PORT: a socket in a redirection
            facts.host(m.group(1), m.group(2))
            facts.add("paths", target)
            continue
        if target.isdigit() or target in ("/dev/null", "/dev/stdout", "/dev/stderr", "-"):
            continue
        facts.path(target, access="read" if op in ("<", "<&") else "written")
    if not argv:
        return
    args = argv[1:]
    if prog in URL_CLIENTS:
        _url_client(prog, argv, facts)
    elif prog in HOST_FIRST:
        _host_first(prog, argv, facts)
    elif prog in SCANNERS:
        _scanner(prog, argv, facts)
    elif prog == "socat":
        _socat(args, facts)
    elif prog in MAILERS:
        _mailer(argv, facts)
    elif prog in ("scp", "rsync", "rclone"):
        _copy_remote(args, facts)
    elif prog == "git":
        _git(args, facts)
    elif prog in ("aws", "gsutil", "az", "gcloud") and any(
        a.startswith(("s3://", "gs://")) for a in args
    ):
        for a in args:
            if a.startswith(("s3://", "gs://")):
                facts.url(a)
            elif looks_like_path(a):
                facts.path(a, access="read")
    else:
        _files(prog, argv, facts)
        if prog not in TEXT_ONLY:
            for arg in args:  # an unknown program given a URL or address contacts it
                if "." not in arg and ":" not in arg:
                    continue  # neither a URL nor an address (the checks below need one)
                if is_url(arg):
                    facts.url(arg)
                elif ip_or_network(arg) is not None:
                    facts.host(arg)


def _files(prog: str, argv: tuple[str, ...], facts: Facts) -> None:
    args = [a for a in argv[1:] if not a.startswith("-")]
    if prog == "dd":
        for a in argv[1:]:
            if a.startswith("if="):
                facts.path(a[3:], access="read")
            elif a.startswith("of="):
                facts.path(a[3:], access="written")
        return
    if prog in ("cp", "mv", "install", "ln") and len(args) >= 2:
        for src in args[:-1]:
            facts.path(src, access="deleted" if prog == "mv" else "read")
        facts.path(args[-1], access="written")
        return
    if prog == "tar":
        mode = argv[1].lstrip("-") if len(argv) > 1 else ""
        creating = mode.isalpha() and "c" in mode or "--create" in argv
        for a in args[1:] if mode.isalpha() else args:
            if looks_like_path(a):
                facts.path(a, access="read" if creating else "written")
        return
    if prog == "sed" and any(a.startswith("-i") for a in argv):
        for a in args[1:]:
            if looks_like_path(a):
                facts.path(a, access="written")
        return
    if prog in PATTERN_FIRST:
        explicit = any(a in ("-e", "-f", "--regexp") for a in argv)
        for a in args if explicit else args[1:]:
            if looks_like_path(a):
                facts.path(a, access="read")
        return
    access: str | None = "read"
    if prog in DELETERS:
        access = "deleted"
    elif prog in WRITERS:
        access = "written"
    elif prog in LISTERS or prog in ("echo", "printf"):
        access = None
    for a in args:
        if looks_like_path(a):
            facts.path(a, access=access)
            if prog in EDITORS:
                facts.path(a, access="written")
        elif prog in FILE_PROGRAMS and "." in a and "=" not in a:
            facts.path(a, access=access)  # bare file names: `cat id_rsa`, `rm .bash_history`


def _url_client(prog: str, argv: tuple[str, ...], facts: Facts) -> None:
    positional = _positionals(
        argv, _URL_CLIENT_VALUE_FLAGS.get(prog, _URL_CLIENT_VALUE_FLAGS["curl"])
    )
    method = ""
    for value in _option_values(argv, _METHOD_FLAGS):
        method = value.upper()
    data = _option_values(argv, _BODY_FLAGS)
    for value in data:
        facts.text("content", value)
        for part in value.split("@")[1:] if "@" in value else ():
            source = part.split(";")[0]
            if source and source != "-":
                facts.path(source, access="read")  # -d @file, -F f=@file
    for value in _option_values(argv, _UPLOAD_FILE_FLAGS):
        facts.path(value, access="read")
    for value in _option_values(argv, _OUTPUT_FLAGS):
        if value != "-":
            facts.path(value, access="written")
    for value in _option_values(argv, _MAIL_RCPT_FLAGS):
        facts.add("recipients", value.strip("<>").lower())
    for value in _option_values(argv, _UNIX_SOCKET_FLAGS):
        facts.path(value, access="written")
    if not method:
        upload = _option_values(argv, _UPLOAD_FLAGS)
        method = "PUT" if upload else ("POST" if data else "GET")
    facts.add("methods", method)
    for arg in positional:
        if prog in ("http", "https", "xh") and arg.upper() in (
            "GET",
            "POST",
            "PUT",
            "DELETE",
            "PATCH",
        ):
            facts.add("methods", arg.upper())
            continue
        if is_url(arg):
            facts.url(arg)
        elif "." in arg or arg.startswith("localhost"):
            host = arg.split("/", 1)[0]
            if facts.host(host):
                facts.add("urls", "http://" + arg)


def _host_first(prog: str, argv: tuple[str, ...], facts: Facts) -> None:
    if prog in ("nc", "ncat", "netcat") and any(
        a.startswith("-") and "l" in a[1:] for a in argv[1:]
    ):
        return  # listening: a bind shell has no target (the rules judge -e)
    positional = _positionals(argv, _HOST_FIRST_VALUE_FLAGS)
    for k, arg in enumerate(positional):
        if arg.startswith("@"):  # dig @server name
            facts.host(arg[1:])
            continue
        port = (
            positional[k + 1] if k + 1 < len(positional) and positional[k + 1].isdigit() else None
        )
        if facts.host(arg, port):
            if prog in ("ssh", "sshpass", "autossh", "mosh", "telnet", "ftp"):
                break  # the rest is the remote command, parsed separately
            if prog not in ("nc", "ncat", "netcat", "dig", "host", "nslookup", "whois"):
                break


def _scanner(prog: str, argv: tuple[str, ...], facts: Facts) -> None:
    for value in _option_values(argv, _SCANNER_TARGET_FLAGS):
        if is_url(value):
            facts.url(value)
        else:
            facts.host(value)
    for value in _option_values(argv, _SCANNER_LIST_FLAGS):
        facts.path(value, access="read")
    for value in _option_values(argv, _SCANNER_OUTPUT_FLAGS):
        facts.path(value, access="written")
    for arg in _positionals(argv, _VALUE_FLAGS["nmap"]):
        if is_url(arg):
            facts.url(arg)
        elif arg.startswith("//"):  # smbclient //host/share
            facts.host(arg[2:].split("/", 1)[0])
        elif "://" in arg:  # hydra ssh://host
            facts.url(arg)
        else:
            facts.host(arg)


def _socat(args: tuple[str, ...], facts: Facts) -> None:
    for spec in args:
        head, _, rest = spec.partition(":")
        kind = head.upper()
        if (
            kind.startswith(("TCP", "UDP", "OPENSSL", "SSL", "SCTP"))
            and "LISTEN" not in kind
            and rest
        ):
            target = rest.split(",", 1)[0]
            host, _, port = target.rpartition(":")
            facts.host(host or target, port or None)
        elif kind in ("EXEC", "SYSTEM"):
            facts.add("args", spec)


def _mailer(argv: tuple[str, ...], facts: Facts) -> None:
    for value in _option_values(argv, _MAILER_TO_FLAGS):
        for address in EMAIL_IN_TEXT.findall(value):
            facts.add("recipients", address.lower())
    for value in _option_values(argv, _MAILER_SERVER_FLAGS):
        if "." in value and " " not in value:
            facts.host(value)
    for arg in argv[1:]:
        if EMAIL.match(arg):
            facts.add("recipients", arg.lower())


def _copy_remote(args: tuple[str, ...], facts: Facts) -> None:
    positional = [a for a in args if not a.startswith("-")]
    for k, arg in enumerate(positional):
        head, sep, _ = arg.partition(":")
        remote = bool(sep) and "/" not in head and head != ""
        if remote:
            facts.host(head)
            if k == len(positional) - 1:
                for src in positional[:-1]:
                    if ":" not in src:
                        facts.path(src, access="read")  # a local file sent away
        elif looks_like_path(arg):
            facts.path(arg, access="written" if k == len(positional) - 1 else "read")


def _git(args: tuple[str, ...], facts: Facts) -> None:
    verb = next((a for a in args if not a.startswith("-")), "")
    for arg in args:
        if is_url(arg):
            facts.url(arg)
        elif _SCP_REPO.match(arg):  # git@host:team/repo.git
            user_host, path = arg.split(":", 1)
            host = user_host.split("@", 1)[1]
            facts.url(f"ssh://{host}/{path}")
    if verb in ("push",) and not facts.has("urls"):
        facts.add("methods", "PUSH")


def code_facts(code: str, facts: Facts) -> None:
    """Python (or any) program text: shell-outs, files opened, URLs and sockets."""
    facts.text("code", code)
    code = code[:65_536]
    for m in _PY_SHELL.finditer(code):
        if m.group(1) is not None:  # subprocess.run(["cat", "/etc/shadow"])
            words = [w for _q, w in _PY_STRING.findall(m.group(1))]
            if words:
                command_facts(SimpleCommand(tuple(words), origin="code"), facts)
        else:
            for cmd in parse(m.group(4)).commands:
                command_facts(cmd, facts)
    for m in _PY_OPEN.finditer(code):
        mode = m.group(4) or "r"
        facts.path(
            m.group(2), access="read" if mode.startswith("r") and "+" not in mode else "written"
        )
    for m in _PY_SOCKET.finditer(code):
        facts.host(m.group(2), m.group(3))
    for url in URL_IN_TEXT.findall(code):
        facts.url(url.rstrip(".,;"))
    if "smtplib" in code or "sendmail" in code or "send_message" in code:
        for address in EMAIL_IN_TEXT.findall(code):
            facts.add("recipients", address.lower())
    for _q, literal in _PY_STRING.findall(code):
        if literal.startswith(("/", "~/")) and " " not in literal and "\\n" not in literal:
            facts.path(literal)


__all__ = ["code_facts", "command_facts", "shell_facts"]
