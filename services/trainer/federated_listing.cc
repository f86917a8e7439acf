#include "services/trainer/federated_listing.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/core/filter.h"
#include "lib/core/page_token.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"

namespace continuum::trainer {

absl::StatusOr<v1::ListRoundsResponse> ListRoundsPage(
    const v1::ListRoundsRequest& request,
    const std::vector<const v1::Round*>& rounds) {
  std::string model;
  if (request.parent() != "models/-") {
    absl::StatusOr<std::string> m =
        core::ParseResourceName(request.parent(), "models", "model");
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parent: ", m.status().message(),
                       " (or models/- for every model)"));
    }
    model = *m;
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be in [0, 1000] (got ", request.page_size(), ")"));
  }
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(
      request.filter(),
      [](absl::string_view key) {
        return key == "state" || key == "create_time";
      },
      [](absl::string_view key) { return key == "create_time"; });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"state", v1::RoundState_descriptor()}});
      !s.ok()) {
    return s;
  }
  const std::string query = absl::StrCat(request.parent(), "\n", request.filter());
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), query);
  if (!position.ok()) return position.status();
  const int size = request.page_size() == 0 ? 50 : request.page_size();

  // A comparison's verdict for a round; filter values were checked above.
  auto holds = [](const v1::Round& r, const core::Filter::Comparison& c) {
    if (c.key == "state") {
      const bool same = c.value == v1::RoundState_Name(r.state()) ||
                        absl::StrCat("ROUND_STATE_", c.value) ==
                            v1::RoundState_Name(r.state());
      return c.equal ? same : !same;
    }
    absl::StatusOr<absl::Time> t = core::TimeValue(c);
    if (!t.ok()) return false;
    const absl::Time created = core::FromProto(r.create_time());
    return core::OrderHolds(c.op, created < *t ? -1 : (created > *t ? 1 : 0));
  };
  for (const auto& conjunction : filter->disjuncts()) {
    for (const auto& c : conjunction) {
      if (c.key == "create_time") {
        if (absl::StatusOr<absl::Time> t = core::TimeValue(c); !t.ok()) {
          return t.status();
        }
      }
    }
  }

  // Newest first: by create time, then model and number, descending. The
  // position is the last shown round's sort key.
  std::vector<const v1::Round*> matching;
  for (const v1::Round* round : rounds) {
    const v1::Round& r = *round;
    if (!model.empty() && r.model() != model) continue;
    if (!filter->Evaluate([&](const core::Filter::Comparison& c) {
          return holds(r, c);
        })) {
      continue;
    }
    matching.push_back(&r);
  }
  auto key = [](const v1::Round& r) {
    return absl::StrCat(
        absl::Dec(std::max<int64_t>(
                      0, absl::ToUnixMicros(core::FromProto(r.create_time()))),
                  absl::kZeroPad20),
        "/", r.model(), "/", absl::Dec(r.number(), absl::kZeroPad20));
  };
  std::sort(matching.begin(), matching.end(),
            [&](const v1::Round* a, const v1::Round* b) {
              return key(*a) > key(*b);
            });
  v1::ListRoundsResponse response;
  for (const v1::Round* r : matching) {
    if (!position->empty() && key(*r) >= *position) continue;
    if (response.rounds_size() == size) {
      response.set_next_page_token(core::EncodePageToken(
          key(response.rounds(response.rounds_size() - 1)), query));
      break;
    }
    *response.add_rounds() = *r;
  }
  return response;
}

absl::StatusOr<v1::ListSitesResponse> ListSitesPage(
    const v1::ListSitesRequest& request,
    const std::vector<const v1::Site*>& sites) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be in [0, 1000] (got ", request.page_size(), ")"));
  }
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(
      request.filter(), [](absl::string_view key) { return key == "trust"; });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"trust", v1::SiteTrust_descriptor()}});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), request.filter());
  if (!position.ok()) return position.status();
  const int size = request.page_size() == 0 ? 100 : request.page_size();
  v1::ListSitesResponse response;
  for (const v1::Site* s : sites) {
    const v1::Site& site = *s;
    const std::string id = site.name().substr(std::string("sites/").size());
    if (!position->empty() && id <= *position) continue;
    // Values may be written with or without the prefix ("EXCLUDED").
    const bool match = filter->Evaluate([&](const core::Filter::Comparison& c) {
      const bool same = c.value == v1::SiteTrust_Name(site.trust()) ||
                        absl::StrCat("SITE_TRUST_", c.value) ==
                            v1::SiteTrust_Name(site.trust());
      return c.equal ? same : !same;
    });
    if (!filter->empty() && !match) continue;
    if (response.sites_size() == size) {
      response.set_next_page_token(core::EncodePageToken(
          response.sites(size - 1).name().substr(6), request.filter()));
      break;
    }
    *response.add_sites() = site;
  }
  return response;
}

}  // namespace continuum::trainer
