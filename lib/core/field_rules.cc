#include "lib/core/field_rules.h"

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/field_rules.pb.h"
#include "lib/core/resource_names.h"

namespace continuum::core {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// What to look at in one message type.
struct Plan {
  // Fields that carry rules, with them.
  std::vector<std::pair<const FieldDescriptor*, v1::FieldRules>> ruled;
  // Message fields whose type (transitively) has rules.
  std::vector<const FieldDescriptor*> nested;
};

class Plans {
 public:
  const Plan& For(const Descriptor* type) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = plans_.find(type);
      if (it != plans_.end()) return *it->second;
    }
    absl::MutexLock lock(&mu_);
    absl::flat_hash_set<const Descriptor*> visiting;
    return BuildLocked(type, visiting);
  }

 private:
  const Plan& BuildLocked(const Descriptor* type,
                          absl::flat_hash_set<const Descriptor*>& visiting)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = plans_.find(type);
    if (it != plans_.end()) return *it->second;
    visiting.insert(type);
    auto plan = std::make_unique<Plan>();
    for (int i = 0; i < type->field_count(); ++i) {
      const FieldDescriptor* field = type->field(i);
      if (field->options().HasExtension(v1::rules)) {
        plan->ruled.emplace_back(field, field->options().GetExtension(v1::rules));
      }
      if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          !field->is_map()) {
        const Descriptor* sub = field->message_type();
        // A recursive type is walked (its instances are finite); whether it
        // has rules is known once its own plan is built.
        if (visiting.contains(sub) || HasRules(BuildLocked(sub, visiting))) {
          plan->nested.push_back(field);
        }
      }
    }
    visiting.erase(type);
    const Plan& out = *plan;
    plans_.emplace(type, std::move(plan));
    return out;
  }

  static bool HasRules(const Plan& plan) {
    return !plan.ruled.empty() || !plan.nested.empty();
  }

  absl::Mutex mu_;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<Plan>> plans_
      ABSL_GUARDED_BY(mu_);
};

Plans& AllPlans() {
  static Plans* plans = new Plans();
  return *plans;
}

absl::Status Broken(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

std::string Number(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrCat(v);
}

// The numeric value of element `index` (-1: the singular field).
double NumberOf(const Message& m, const Reflection& r, const FieldDescriptor* f,
                int index) {
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r.GetRepeatedInt32(m, f, index) : r.GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return static_cast<double>(rep ? r.GetRepeatedInt64(m, f, index)
                                     : r.GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return static_cast<double>(rep ? r.GetRepeatedUInt64(m, f, index)
                                     : r.GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r.GetRepeatedFloat(m, f, index) : r.GetFloat(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r.GetRepeatedDouble(m, f, index) : r.GetDouble(m, f);
    default:
      return 0;
  }
}

bool IsNumber(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return true;
    default:
      return false;
  }
}

// Whether the singular field is set in the sense of field_rules.proto.
bool IsSet(const Message& m, const Reflection& r, const FieldDescriptor* f) {
  if (f->is_repeated()) return r.FieldSize(m, f) > 0;
  if (f->has_presence()) return r.HasField(m, f);
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return !r.GetStringReference(m, f, nullptr).empty();
    case FieldDescriptor::CPPTYPE_ENUM:
      return r.GetEnumValue(m, f) != 0;
    case FieldDescriptor::CPPTYPE_BOOL:
      return r.GetBool(m, f);
    default:
      return NumberOf(m, r, f, -1) != 0;
  }
}

// `zero_is_unset`: a plain proto3 number, whose 0 means "not given".
absl::Status CheckNumber(const std::string& path, double v,
                         const v1::FieldRules& rules, bool zero_is_unset) {
  if (v == 0 && zero_is_unset) return absl::OkStatus();
  if (rules.has_min() && v < rules.min()) {
    return Broken(path, absl::StrCat("must be >= ", Number(rules.min()),
                                     " (got ", Number(v), ")"));
  }
  if (rules.has_max() && v > rules.max()) {
    return Broken(path, absl::StrCat("must be <= ", Number(rules.max()),
                                     " (got ", Number(v), ")"));
  }
  if (rules.has_greater_than() && !(v > rules.greater_than())) {
    return Broken(path, absl::StrCat("must be > ", Number(rules.greater_than()),
                                     " (got ", Number(v), ")"));
  }
  if (rules.has_less_than() && !(v < rules.less_than())) {
    return Broken(path, absl::StrCat("must be < ", Number(rules.less_than()),
                                     " (got ", Number(v), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckString(const std::string& path, const std::string& v,
                         const v1::FieldRules& rules) {
  if (v.empty()) return absl::OkStatus();
  const int64_t n = static_cast<int64_t>(v.size());
  if (rules.has_min_bytes() && n < rules.min_bytes()) {
    return Broken(path, absl::StrCat("at least ", rules.min_bytes(),
                                     " bytes (got ", n, ")"));
  }
  if (rules.has_max_bytes() && n > rules.max_bytes()) {
    return Broken(path, absl::StrCat("at most ", rules.max_bytes(),
                                     " bytes (got ", n, ")"));
  }
  if (!rules.id().empty()) {
    if (absl::Status s = ValidateResourceId(rules.id(), v); !s.ok()) {
      return Broken(path, s.message());
    }
  }
  if (!rules.name_pattern().empty()) {
    if (absl::Status s = MatchResourceName(v, rules.name_pattern()).status();
        !s.ok()) {
      return Broken(path, s.message());
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEnum(const std::string& path, const FieldDescriptor* f,
                       int v, const v1::FieldRules& rules) {
  if (!rules.defined_enum() || v == 0) return absl::OkStatus();
  if (f->enum_type()->FindValueByNumber(v) == nullptr) {
    return Broken(path, absl::StrCat(v, " is not a value of ",
                                     f->enum_type()->full_name()));
  }
  return absl::OkStatus();
}

// The rules of one value: element `index` of a repeated field, or the
// singular field (-1).
absl::Status CheckValue(const Message& m, const Reflection& r,
                        const FieldDescriptor* f, int index,
                        const std::string& path, const v1::FieldRules& rules) {
  if (IsNumber(f)) {
    return CheckNumber(path, NumberOf(m, r, f, index), rules,
                       /*zero_is_unset=*/index >= 0 || !f->has_presence());
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    std::string scratch;
    const std::string& v =
        index >= 0 ? r.GetRepeatedStringReference(m, f, index, &scratch)
                   : r.GetStringReference(m, f, &scratch);
    return CheckString(path, v, rules);
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    const int v =
        index >= 0 ? r.GetRepeatedEnumValue(m, f, index) : r.GetEnumValue(m, f);
    return CheckEnum(path, f, v, rules);
  }
  return absl::OkStatus();
}

absl::Status CheckField(const Message& m, const Reflection& r,
                        const FieldDescriptor* f, const std::string& path,
                        const v1::FieldRules& rules) {
  if (rules.required() && !IsSet(m, r, f)) return Broken(path, "required");
  if (!f->is_repeated()) {
    if (!IsSet(m, r, f)) return absl::OkStatus();
    return CheckValue(m, r, f, -1, path, rules);
  }
  const int n = r.FieldSize(m, f);
  if (rules.has_max_items() && n > rules.max_items()) {
    return Broken(path, absl::StrCat("at most ", rules.max_items(),
                                     " items (got ", n, ")"));
  }
  for (int i = 0; i < n; ++i) {
    absl::Status s =
        CheckValue(m, r, f, i, absl::StrCat(path, "[", i, "]"), rules);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status CheckMessage(const Message& m, const std::string& prefix) {
  const Plan& plan = AllPlans().For(m.GetDescriptor());
  const Reflection& r = *m.GetReflection();
  for (const auto& [field, rules] : plan.ruled) {
    absl::Status s = CheckField(m, r, field, prefix + field->name(), rules);
    if (!s.ok()) return s;
  }
  for (const FieldDescriptor* field : plan.nested) {
    const std::string path = prefix + field->name();
    if (!field->is_repeated()) {
      if (!r.HasField(m, field)) continue;
      absl::Status s = CheckMessage(r.GetMessage(m, field), path + ".");
      if (!s.ok()) return s;
      continue;
    }
    const int n = r.FieldSize(m, field);
    for (int i = 0; i < n; ++i) {
      absl::Status s = CheckMessage(r.GetRepeatedMessage(m, field, i),
                                    absl::StrCat(path, "[", i, "]."));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFieldRules(const Message& message) {
  return CheckMessage(message, "");
}

}  // namespace continuum::core
