"""The (continuum.v1.rules) field options, read and checked from Python.

An independent reading of protos/continuum/v1/field_rules.proto: the same
semantics as lib/core/field_rules.h, written again so that the conformance
suite does not trust the servers' own checker. Also makes, for a valid
request, one request per rule that breaks exactly that rule.
"""

import copy
import math
import re

from google.protobuf import descriptor as pb_descriptor

from continuum.v1 import field_rules_pb2

FD = pb_descriptor.FieldDescriptor
ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
NUMBER_TYPES = {
    FD.CPPTYPE_INT32, FD.CPPTYPE_INT64, FD.CPPTYPE_UINT32, FD.CPPTYPE_UINT64,
    FD.CPPTYPE_FLOAT, FD.CPPTYPE_DOUBLE,
}
INTEGER_TYPES = {FD.CPPTYPE_INT32, FD.CPPTYPE_INT64, FD.CPPTYPE_UINT32,
                 FD.CPPTYPE_UINT64}


def rules_of(field):
    """The field's FieldRules, or None."""
    options = field.GetOptions()
    if not options.HasExtension(field_rules_pb2.rules):
        return None
    return options.Extensions[field_rules_pb2.rules]


def has_presence(field):
    return (field.label != FD.LABEL_REPEATED and
            (field.cpp_type == FD.CPPTYPE_MESSAGE or
             field.containing_oneof is not None or
             getattr(field, "has_presence", False)))


def is_set(message, field):
    if field.label == FD.LABEL_REPEATED:
        return len(getattr(message, field.name)) > 0
    if has_presence(field):
        return message.HasField(field.name)
    value = getattr(message, field.name)
    return bool(value)


def match_name(value, pattern):
    """An error text, or None, for a resource name against its pattern."""
    want, got = pattern.split("/"), value.split("/")
    if len(want) != len(got):
        return f'name "{value}" is not of the form {pattern}'
    for w, g in zip(want, got):
        if w.startswith("{") and w.endswith("}"):
            if not g:
                return f'name "{value}" is not of the form {pattern}'
            if w in ("{model}", "{dataset}") and not ID_RE.fullmatch(g):
                return f"{w[1:-1]} id is invalid"
        elif w != g:
            return f'name "{value}" is not of the form {pattern}'
    return None


def check_value(field, value, rules, path, zero_is_unset):
    if field.cpp_type in NUMBER_TYPES:
        if value == 0 and zero_is_unset:
            return None
        if rules.HasField("min") and value < rules.min:
            return (path, "must be >=")
        if rules.HasField("max") and value > rules.max:
            return (path, "must be <=")
        if rules.HasField("greater_than") and not value > rules.greater_than:
            return (path, "must be >")
        if rules.HasField("less_than") and not value < rules.less_than:
            return (path, "must be <")
        return None
    if field.cpp_type == FD.CPPTYPE_STRING:
        if not value:
            return None
        n = len(value.encode() if isinstance(value, str) else value)
        if rules.HasField("min_bytes") and n < rules.min_bytes:
            return (path, "at least")
        if rules.HasField("max_bytes") and n > rules.max_bytes:
            return (path, "at most")
        if rules.id and not ID_RE.fullmatch(value):
            return (path, "must match")
        if rules.name_pattern and match_name(value, rules.name_pattern):
            return (path, "name")
        return None
    if field.cpp_type == FD.CPPTYPE_ENUM:
        if rules.defined_enum and value != 0 and \
                field.enum_type.values_by_number.get(value) is None:
            return (path, "is not a value of")
    return None


def check(message, prefix=""):
    """The first (path, what) that breaks a rule, or None (as the C++)."""
    descriptor = message.DESCRIPTOR
    for field in descriptor.fields:
        rules = rules_of(field)
        if rules is None:
            continue
        path = prefix + field.name
        if rules.required and not is_set(message, field):
            return (path, "required")
        if field.label != FD.LABEL_REPEATED:
            if not is_set(message, field):
                continue
            if field.cpp_type == FD.CPPTYPE_MESSAGE:
                continue
            broken = check_value(field, getattr(message, field.name), rules,
                                 path, not has_presence(field))
            if broken:
                return broken
            continue
        values = getattr(message, field.name)
        if rules.HasField("max_items") and len(values) > rules.max_items:
            return (path, "at most")
        if field.cpp_type == FD.CPPTYPE_MESSAGE:
            continue
        for i, v in enumerate(values):
            broken = check_value(field, v, rules, f"{path}[{i}]", True)
            if broken:
                return broken
    for field in descriptor.fields:
        if field.cpp_type != FD.CPPTYPE_MESSAGE or (
                field.message_type.GetOptions().map_entry):
            continue
        path = prefix + field.name
        if field.label == FD.LABEL_REPEATED:
            for i, sub in enumerate(getattr(message, field.name)):
                broken = check(sub, f"{path}[{i}].")
                if broken:
                    return broken
        elif message.HasField(field.name):
            broken = check(getattr(message, field.name), path + ".")
            if broken:
                return broken
    return None


def _breaking_number(field, rules, low):
    bound = rules.min if low else rules.max
    step = 1 if field.cpp_type in INTEGER_TYPES else 0.5
    value = bound - step if low else bound + step
    if value == 0:
        value = bound - 2 * step if low else bound + 2 * step
    if field.cpp_type in INTEGER_TYPES:
        value = int(math.floor(value) if low else math.ceil(value))
        if field.cpp_type in (FD.CPPTYPE_UINT32, FD.CPPTYPE_UINT64) and value < 0:
            return None
    return value


def _string_breakers(rules):
    """(kind, value) pairs that break the string rules."""
    out = []
    if rules.HasField("min_bytes") and rules.min_bytes > 1:
        out.append(("min_bytes", "a" * (rules.min_bytes - 1)))
    if rules.HasField("max_bytes"):
        out.append(("max_bytes", "a" * (rules.max_bytes + 1)))
    if rules.id:
        out.append(("id", "Not An Id"))
    if rules.name_pattern:
        out.append(("name_pattern", "nope/x"))
    return out


def _value_breakers(field, rules):
    """(kind, value) pairs, each breaking one value rule of the field."""
    out = []
    if field.cpp_type in NUMBER_TYPES:
        if rules.HasField("min"):
            v = _breaking_number(field, rules, low=True)
            if v is not None:
                out.append(("min", v))
        if rules.HasField("max"):
            out.append(("max", _breaking_number(field, rules, low=False)))
        if rules.HasField("greater_than"):
            v = rules.greater_than if rules.greater_than != 0 else -1
            out.append(("greater_than", v))
        if rules.HasField("less_than"):
            v = rules.less_than if rules.less_than != 0 else 1
            out.append(("less_than", v))
    elif field.cpp_type == FD.CPPTYPE_STRING and field.type == FD.TYPE_STRING:
        out.extend(_string_breakers(rules))
    elif field.cpp_type == FD.CPPTYPE_STRING:  # bytes
        out.extend((k, v.encode()) for k, v in _string_breakers(rules))
    elif field.cpp_type == FD.CPPTYPE_ENUM and rules.defined_enum:
        out.append(("defined_enum", 9999))
    return out


def breakers(message, prefix=""):
    """Yields (path, kind, broken_copy_of_the_root) for every rule reachable
    in `message`: the fields of `message`, of its set sub-messages and of the
    first element of its repeated messages. The caller passes the root; the
    copies are of the root."""
    yield from _breakers(message, message, prefix, [])


def _get(root, steps):
    m = root
    for name, index in steps:
        m = getattr(m, name)
        if index is not None:
            m = m[index]
    return m


def _breakers(root, message, prefix, steps):
    for field in message.DESCRIPTOR.fields:
        rules = rules_of(field)
        path = prefix + field.name
        if rules is not None:
            repeated = field.label == FD.LABEL_REPEATED
            if rules.required:
                broken = copy.deepcopy(root)
                _get(broken, steps).ClearField(field.name)
                yield (path, "required", broken)
            if repeated and rules.HasField("max_items"):
                broken = copy.deepcopy(root)
                target = getattr(_get(broken, steps), field.name)
                is_map = (field.cpp_type == FD.CPPTYPE_MESSAGE and
                          field.message_type.GetOptions().map_entry)
                while len(target) <= rules.max_items:
                    if is_map:
                        key = f"k{len(target)}"
                        value_field = field.message_type.fields_by_name["value"]
                        if value_field.cpp_type == FD.CPPTYPE_MESSAGE:
                            target[key].SetInParent()
                        else:
                            target[key] = _plain_value(value_field)
                    elif field.cpp_type == FD.CPPTYPE_MESSAGE:
                        item = target.add()
                        if len(target) > 1:
                            item.CopyFrom(target[0])
                    elif len(target) > 0:
                        target.append(target[0])
                    else:
                        target.append(_plain_value(field))
                yield (path, "max_items", broken)
            if field.cpp_type != FD.CPPTYPE_MESSAGE:
                for kind, value in _value_breakers(field, rules):
                    broken = copy.deepcopy(root)
                    owner = _get(broken, steps)
                    if repeated:
                        target = getattr(owner, field.name)
                        if len(target) == 0:
                            target.append(value)
                        else:
                            target[0] = value
                        yield (f"{path}[0]", kind, broken)
                    else:
                        setattr(owner, field.name, value)
                        yield (path, kind, broken)
        if field.cpp_type == FD.CPPTYPE_MESSAGE and \
                not field.message_type.GetOptions().map_entry:
            if field.label == FD.LABEL_REPEATED:
                items = getattr(message, field.name)
                if len(items) > 0:
                    yield from _breakers(root, items[0], f"{path}[0].",
                                         steps + [(field.name, 0)])
            elif message.HasField(field.name):
                yield from _breakers(root, getattr(message, field.name),
                                     path + ".", steps + [(field.name, None)])


def _plain_value(field):
    if field.cpp_type == FD.CPPTYPE_STRING:
        return "x" if field.type == FD.TYPE_STRING else b"x"
    if field.cpp_type == FD.CPPTYPE_BOOL:
        return True
    if field.cpp_type == FD.CPPTYPE_ENUM:
        return 1
    return 1


def ruled_types(descriptor, seen=None):
    """Whether `descriptor` (transitively) has fields with rules."""
    seen = set() if seen is None else seen
    if descriptor.full_name in seen:
        return False
    seen.add(descriptor.full_name)
    for field in descriptor.fields:
        if rules_of(field) is not None:
            return True
        if field.cpp_type == FD.CPPTYPE_MESSAGE and \
                ruled_types(field.message_type, seen):
            return True
    return False
