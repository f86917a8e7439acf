// The file layout of a segment log directory: names and listing.
#include "lib/store/segment_files.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/string_view.h"
#include "lib/store/segment_log_test_util.h"

namespace continuum::store {
namespace {

using segment_log_testing::UniqueTempDir;

TEST(SegmentFilesTest, DayDirNamesRoundTrip) {
  EXPECT_EQ(DayDirName(0), "19700101");
  EXPECT_EQ(DayDirName(20'000), "20241004");
  EXPECT_EQ(DayDirName(kMaxDay), "22431016");
  for (int64_t day : {int64_t{0}, int64_t{59}, int64_t{20'000}, kMaxDay}) {
    int64_t parsed = -1;
    ASSERT_TRUE(ParseDayDirName(DayDirName(day), &parsed)) << day;
    EXPECT_EQ(parsed, day);
  }
}

TEST(SegmentFilesTest, ParseDayDirNameRejectsWhatDayDirNameNeverMakes) {
  int64_t day = 0;
  for (absl::string_view bad :
       {"", "2024100", "202410041", "2024-10-", "2024a004", "20241301",
        "20240230", "19691231", "22431017", "LOCK"}) {
    EXPECT_FALSE(ParseDayDirName(bad, &day)) << bad;
  }
}

TEST(SegmentFilesTest, SegmentFileNamesRoundTrip) {
  EXPECT_EQ(SegmentFileName(2000000003, "log"), "2000000003.log");
  EXPECT_EQ(SegmentFileName(7, "idx"), "0000000007.idx");
  int64_t id = 0;
  absl::string_view extension;
  ASSERT_TRUE(ParseSegmentFileName("2000000003.tomb", &id, &extension));
  EXPECT_EQ(id, 2000000003);
  EXPECT_EQ(extension, "tomb");
  for (absl::string_view bad :
       {"2000000003.", "200000000.log", "20000000031.log", "200000000x.log",
        "2000000003_log", "LOCK"}) {
    EXPECT_FALSE(ParseSegmentFileName(bad, &id, &extension)) << bad;
  }
}

TEST(SegmentFilesTest, PathsAreUnderTheSegmentsDay) {
  EXPECT_EQ(DayOfSegment(2000000003), 20'000);
  EXPECT_EQ(DayDirPath("/logs/r", 20'000), "/logs/r/20241004");
  EXPECT_EQ(SegmentFilePath("/logs/r", 2000000003, "log"),
            "/logs/r/20241004/2000000003.log");
}

TEST(SegmentFilesTest, ListingFindsSegmentsTombstonesAndRemovesTempFiles) {
  FileSystem* fs = DefaultFileSystem();
  const std::string dir = UniqueTempDir();
  const std::string day0 = DayDirPath(dir, 20'000);
  const std::string day1 = DayDirPath(dir, 20'001);
  ASSERT_TRUE(fs->CreateDirs(day0).ok());
  ASSERT_TRUE(fs->CreateDirs(day1).ok());
  ASSERT_TRUE(fs->CreateDirs(JoinPath(dir, "not-a-day")).ok());
  for (const std::string& path :
       {SegmentFilePath(dir, 2000000000, "log"),
        SegmentFilePath(dir, 2000000000, "idx"),
        SegmentFilePath(dir, 2000000001, "log"),
        SegmentFilePath(dir, 2000000005, "idx"),
        SegmentFilePath(dir, 2000100002, "tomb"),
        SegmentFilePath(dir, 2000100001, "tomb"),
        JoinPath(day0, "2000000002.idx.tmp"),
        // Of another day: ignored.
        JoinPath(day0, SegmentFileName(2000100009, "log")),
        JoinPath(day0, "README"), JoinPath(dir, "LOCK")}) {
    ASSERT_TRUE(fs->WriteFileAtomically(path, "x").ok()) << path;
  }
  absl::StatusOr<SegmentDirListing> listing = ListSegmentDir(fs, dir);
  ASSERT_TRUE(listing.ok()) << listing.status();
  ASSERT_EQ(listing->day_tombs.size(), 2u);
  EXPECT_EQ(listing->day_tombs.at(20'000), -1);
  EXPECT_EQ(listing->day_tombs.at(20'001), 2000100002);
  ASSERT_EQ(listing->segments.size(), 3u);
  const FoundSegmentFiles& s0 = listing->segments.at(2000000000);
  EXPECT_EQ(s0.day, 20'000);
  EXPECT_TRUE(s0.has_log);
  EXPECT_TRUE(s0.has_index);
  EXPECT_TRUE(listing->segments.at(2000000001).has_log);
  EXPECT_FALSE(listing->segments.at(2000000001).has_index);
  EXPECT_FALSE(listing->segments.at(2000000005).has_log);
  EXPECT_TRUE(listing->segments.at(2000000005).has_index);
  EXPECT_FALSE(fs->FileExists(JoinPath(day0, "2000000002.idx.tmp")));
  EXPECT_TRUE(fs->FileExists(JoinPath(day0, "README")));
  EXPECT_TRUE(fs->DeleteRecursively(dir).ok());
}

TEST(SegmentFilesTest, ListingAMissingDirectoryFails) {
  EXPECT_FALSE(
      ListSegmentDir(DefaultFileSystem(), UniqueTempDir() + "/missing").ok());
}

}  // namespace
}  // namespace continuum::store
