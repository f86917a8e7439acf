#include "lib/store/segment_files.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"

namespace continuum::store {
namespace {

const absl::CivilDay kEpochDay(1970, 1, 1);

}  // namespace

std::string DayDirName(int64_t day) {
  const absl::CivilDay d = kEpochDay + day;
  return absl::StrFormat("%04d%02d%02d", d.year(), d.month(), d.day());
}

bool ParseDayDirName(absl::string_view name, int64_t* day) {
  if (name.size() != 8) return false;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int year = 0;
  int month = 0;
  int dom = 0;
  if (!absl::SimpleAtoi(name.substr(0, 4), &year) ||
      !absl::SimpleAtoi(name.substr(4, 2), &month) ||
      !absl::SimpleAtoi(name.substr(6, 2), &dom)) {
    return false;
  }
  const absl::CivilDay d(year, month, dom);
  if (d.year() != year || d.month() != month || d.day() != dom) return false;
  *day = d - kEpochDay;
  return *day >= 0 && *day <= kMaxDay;
}

std::string SegmentFileName(int64_t id, absl::string_view extension) {
  return absl::StrFormat("%010d.%s", id, extension);
}

bool ParseSegmentFileName(absl::string_view name, int64_t* id,
                          absl::string_view* extension) {
  if (name.size() < 12 || name[10] != '.') return false;
  for (int i = 0; i < 10; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  if (!absl::SimpleAtoi(name.substr(0, 10), id)) return false;
  *extension = name.substr(11);
  return true;
}

std::string DayDirPath(const std::string& dir, int64_t day) {
  return JoinPath(dir, DayDirName(day));
}

std::string SegmentFilePath(const std::string& dir, int64_t id,
                            absl::string_view extension) {
  return JoinPath(DayDirPath(dir, DayOfSegment(id)),
                  SegmentFileName(id, extension));
}

absl::StatusOr<SegmentDirListing> ListSegmentDir(FileSystem* fs,
                                                 const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> children = fs->GetChildren(dir);
  if (!children.ok()) return children.status();
  SegmentDirListing listing;
  for (const std::string& day_name : *children) {
    int64_t day = 0;
    if (!ParseDayDirName(day_name, &day)) continue;
    const std::string day_dir = JoinPath(dir, day_name);
    absl::StatusOr<std::vector<std::string>> files = fs->GetChildren(day_dir);
    if (!files.ok()) return files.status();
    int64_t& tomb_id = listing.day_tombs.emplace(day, -1).first->second;
    for (const std::string& name : *files) {
      const std::string path = JoinPath(day_dir, name);
      if (absl::EndsWith(name, ".tmp")) {
        // An atomic write interrupted by a crash.
        if (absl::Status s = fs->DeleteFile(path);
            !s.ok() && !absl::IsNotFound(s)) {
          return s;
        }
        continue;
      }
      int64_t id = 0;
      absl::string_view extension;
      if (!ParseSegmentFileName(name, &id, &extension)) continue;
      if (DayOfSegment(id) != day) {
        spdlog::warn("segment log {}: ignoring {}: its id is not of day {}",
                     dir, path, day_name);
        continue;
      }
      if (extension == "log") {
        listing.segments[id].day = day;
        listing.segments[id].has_log = true;
      } else if (extension == "idx") {
        listing.segments[id].day = day;
        listing.segments[id].has_index = true;
      } else if (extension == "tomb") {
        tomb_id = std::max(tomb_id, id);
      }
    }
  }
  return listing;
}

}  // namespace continuum::store
