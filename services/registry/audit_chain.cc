#include "services/registry/audit_chain.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "lib/store/blob_store.h"

namespace continuum::registry {

std::string AuditHash(const v1::AuditEntry& entry) {
  v1::AuditEntry copy = entry;
  copy.clear_hash();
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  copy.SerializeToCodedStream(&coded);
  coded.Trim();
  return store::Sha256Hex(bytes);
}

void LinkAuditEntry(const v1::AuditEntry* last, v1::AuditEntry& entry) {
  entry.set_sequence(last != nullptr ? last->sequence() + 1 : 1);
  entry.set_prev_hash(last != nullptr ? last->hash() : kAuditGenesisHash);
  entry.set_hash(AuditHash(entry));
}

int64_t FindBrokenLink(const std::vector<v1::AuditEntry>& entries,
                       const std::string& first_prev_hash) {
  std::string prev = first_prev_hash;
  int64_t expected_sequence = entries.empty() ? 0 : entries.front().sequence();
  for (const v1::AuditEntry& e : entries) {
    if (e.sequence() != expected_sequence || e.prev_hash() != prev ||
        AuditHash(e) != e.hash()) {
      return e.sequence() != 0 ? e.sequence() : expected_sequence;
    }
    prev = e.hash();
    ++expected_sequence;
  }
  return 0;
}

}  // namespace continuum::registry
