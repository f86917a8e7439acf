"""Lint of the protos: every rule a request field's comment states is either
a (continuum.v1.rules) option on the field, which the servers check and the
conformance suite exercises, or a row of manual_rules.txt naming the
hand-written check and the test that covers it.

A field counts when its message can be part of a request (reachable from an
RPC's input type), and its comment (leading or trailing) uses the words of a
rule: "Required", ">= N", "<= N", "at most N", "at least N", "N bytes",
"must", "[a-z0-9]...". Usage:
  lint.py PROTO_ROOT PYTHON_DIR [--list]
--list prints every such field with its comment and how it is covered.
"""

import os
import re
import subprocess
import sys
import tempfile

RULE_WORDS = re.compile(
    r"\bRequired\b|\brequired\b|>=\s*-?\d|<=\s*-?\d|\bat most\s+\d|"
    r"\bat least\s+\d|\b\d+\s+bytes\b|\bmust\b|\[a-z0-9\]|"
    r"INVALID_ARGUMENT")
# Phrases that state no rule on the request (what the server does, or a
# field of a response).
NOT_A_RULE = re.compile(r"^\s*Output only", re.I)


def main():
    proto_root, python_dir = sys.argv[1], sys.argv[2]
    listing = "--list" in sys.argv
    sys.path.insert(0, python_dir)
    from google.protobuf import descriptor_pb2
    from continuum.v1 import field_rules_pb2

    files = sorted(
        os.path.join("continuum/v1", f)
        for f in os.listdir(os.path.join(proto_root, "continuum/v1"))
        if f.endswith(".proto") and f not in ("field_rules.proto",))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "-I", proto_root, "-I", "/usr/include",
                        "--include_source_info", "--include_imports",
                        f"--descriptor_set_out={out}"] + files, check=True)
        data = open(out, "rb").read()
    fds = descriptor_pb2.FileDescriptorSet()
    fds.ParseFromString(data)

    messages = {}  # full name -> (file proto, DescriptorProto, path)
    comments = {}  # (message full name, field name) -> comment
    for f in fds.file:
        if not f.name.startswith("continuum/v1/"):
            continue
        locations = {tuple(l.path): l for l in f.source_code_info.location}

        def walk(msg, prefix, path):
            name = f"{prefix}.{msg.name}"
            messages[name] = msg
            for i, field in enumerate(msg.field):
                loc = locations.get(tuple(path + [2, i]))
                text = ""
                if loc is not None:
                    text = (loc.leading_comments + " " +
                            loc.trailing_comments).strip()
                comments[(name, field.name)] = text
            for i, nested in enumerate(msg.nested_type):
                walk(nested, name, path + [3, i])

        for i, msg in enumerate(f.message_type):
            walk(msg, f.package, [4, i])

    # Messages that can be part of a request.
    reachable = set()
    pending = []
    for f in fds.file:
        if not f.name.startswith("continuum/v1/"):
            continue
        for service in f.service:
            for method in service.method:
                pending.append(method.input_type.lstrip("."))
    while pending:
        name = pending.pop()
        if name in reachable or name not in messages:
            continue
        reachable.add(name)
        for field in messages[name].field:
            if field.type == field.TYPE_MESSAGE:
                pending.append(field.type_name.lstrip("."))

    manual = {}
    manual_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "manual_rules.txt")
    for line in open(manual_path):
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, why = line.partition(" ")
            manual[key] = why.strip()

    missing = []
    for (message, field_name), text in sorted(comments.items()):
        if message not in reachable or not RULE_WORDS.search(text) or \
                NOT_A_RULE.search(text):
            continue
        field = next(f for f in messages[message].field
                     if f.name == field_name)
        has_option = field.options.HasExtension(field_rules_pb2.rules)
        key = f"{message}.{field_name}"
        covered = ("option" if has_option else
                   "manual" if key in manual else None)
        if listing:
            print(f"{covered or 'MISSING':8} {key}: {' '.join(text.split())}")
        if covered is None:
            missing.append(key)
    stale = [k for k in manual if not any(
        f"{m}.{f}" == k for (m, f) in comments)]
    for k in stale:
        print(f"manual_rules.txt names {k}, which is not a field")
    for k in missing:
        print(f"MISSING  {k}: its comment states a rule; add a "
              "(continuum.v1.rules) option or a manual_rules.txt row")
    if missing or stale:
        print(f"\n{len(missing)} field(s) state rules nothing enforces as "
              f"documented; {len(stale)} stale manual row(s)")
        return 1
    print("every rule stated in a request field's comment is an option or a "
          "manual row")
    return 0


if __name__ == "__main__":
    sys.exit(main())
