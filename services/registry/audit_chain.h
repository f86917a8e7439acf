// The registry's audit chain. Every registry write appends an AuditEntry in
// the same transaction; the entries form a hash chain:
//
//   entry.sequence  = previous.sequence + 1 (the first is 1)
//   entry.prev_hash = previous.hash (kAuditGenesisHash for the first)
//   entry.hash      = AuditHash(entry): lowercase hex SHA-256 of the entry's
//                     deterministic serialization with `hash` cleared
//
// so an edited, removed or reordered entry breaks a link that FindBrokenLink
// reports. `continuumctl audit verify` checks an exported chain with these
// functions alone: this is its own library (continuum_registry_audit), which
// links neither the registry nor gRPC.
//
// Pure functions; thread-safe.
#ifndef CONTINUUM_SERVICES_REGISTRY_AUDIT_CHAIN_H_
#define CONTINUUM_SERVICES_REGISTRY_AUDIT_CHAIN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// The prev_hash of the first entry: 64 zeros.
inline constexpr char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The SHA-256 an audit entry must carry: lowercase hex of the entry's
// serialization with `hash` cleared.
std::string AuditHash(const v1::AuditEntry& entry);

// Links `entry` after `last` (null for the first entry of the chain): sets
// its sequence, prev_hash and, last, its hash. The other fields must be set
// before.
void LinkAuditEntry(const v1::AuditEntry* last, v1::AuditEntry& entry);

// Recomputes the chain over `entries` (in sequence order, the first with
// prev_hash `first_prev_hash`). Returns the sequence of the first entry
// whose link is broken (its own sequence, or where it should be when that
// is 0), or 0 if the chain is whole. Example: with entry 2 of 1..5 edited,
// returns 2; with entry 2 removed, returns 3.
int64_t FindBrokenLink(const std::vector<v1::AuditEntry>& entries,
                       const std::string& first_prev_hash = kAuditGenesisHash);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_AUDIT_CHAIN_H_
