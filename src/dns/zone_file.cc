#include "dns/zone_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

// libzscanner/error.h lacks C linkage declarations of its own.
extern "C" {
#include <libzscanner/scanner.h>
}

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dns/generic_rdata.h"
#include "dns/record_pipe.h"
#include "dns/wire.h"
#include "dns/zone_builder.h"
#include "util/release_pages.h"

namespace agility::dns {
namespace {

constexpr size_t kThreadedLoadBytes = 1 << 20;
constexpr size_t kMaxErrors = 20;
constexpr uint16_t kClassIn = 1;        // the scanner reads no other class
constexpr uint32_t kDefaultTtl = 3600;  // before any $TTL

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  // One read into an exactly sized string: zone files can be gigabytes. Not
  // mmap: a file truncated while we read it would kill the server (SIGBUS).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open: ", strerror(errno)));
  struct stat st;
  std::string text;
  // One byte more than the file, so that reading its end needs no growth
  // (which would copy it all).
  if (fstat(fd, &st) == 0 && st.st_size > 0) text.resize(static_cast<size_t>(st.st_size) + 1);
  size_t done = 0;
  while (true) {
    if (done == text.size()) text.resize(text.size() + 65536);  // growing (e.g. a pipe)
    const ssize_t n = read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::DataLossError(absl::StrCat("read error: ", strerror(error)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(done);
  return text;
}

// zs_scanner_t holds three 64 KiB buffers: on the heap, not the stack.
struct ScannerFree {
  void operator()(zs_scanner_t* scanner) const {
    zs_deinit(scanner);
    delete scanner;
  }
};
using ScannerPtr = std::unique_ptr<zs_scanner_t, ScannerFree>;

// Finds lines of one text by number, for quoting them in error messages.
// Errors come in line order, so each search goes on from the last one: a
// file's errors cost one pass over it, however large it is.
class LineFinder {
 public:
  // The line `number` (1-based) of `text`, cut short; empty past the end.
  std::string Quote(absl::string_view text, uint64_t number) {
    if (text.data() != text_.data() || number < line_) {
      text_ = text;
      line_ = 1;
      at_ = 0;
    }
    for (; line_ < number; ++line_) {
      at_ = text_.find('\n', at_);
      if (at_ == absl::string_view::npos) {
        text_ = {};
        return "";
      }
      ++at_;
    }
    const absl::string_view line = text_.substr(at_, text_.find('\n', at_) - at_);
    if (line.size() > 80) return absl::StrCat(line.substr(0, 77), "...");
    return std::string(line);
  }

  // Gives back the pages of `text` before the line holding `offset`: no line
  // before it is quoted any more, and Quote counts on from there.
  void Release(absl::string_view text, size_t offset) {
    if (text.data() != text_.data()) {
      text_ = text;
      line_ = 1;
      at_ = 0;
    }
    for (size_t next = text_.find('\n', at_); next != absl::string_view::npos && next < offset;
         next = text_.find('\n', at_)) {
      at_ = next + 1;
      ++line_;
    }
    ReleasePages(text_.data(), text_.data() + at_);
  }

 private:
  absl::string_view text_;
  uint64_t line_ = 1;
  size_t at_ = 0;  // where line_ starts
};

struct Escapes {
  bool generic = false;    // "\#": RFC 3597 data follows
  bool above_255 = false;  // "\DDD" with DDD above 255
};

// The escapes of record text, comments left out.
Escapes FindEscapes(absl::string_view text) {
  Escapes found;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      quoted = !quoted;
    } else if (c == ';' && !quoted) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '\\' && i + 1 < text.size()) {
      if (text[i + 1] == '#' && !quoted) found.generic = true;
      if (i + 3 < text.size() && absl::ascii_isdigit(text[i + 1]) &&
          absl::ascii_isdigit(text[i + 2]) && absl::ascii_isdigit(text[i + 3])) {
        const int value = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + text[i + 3] - '0';
        found.above_255 = found.above_255 || value > 255;
      }
      ++i;  // the escaped character
    }
  }
  return found;
}

// One zone: its file and the files it includes, scanned in order.
class Reader {
 public:
  Reader(RecordPipe& records, const ZoneFileLimits& limits) : records_(records), limits_(limits) {}

  // Scans `text`, read from `file`, starting at `origin` (presentation form)
  // with the default TTL `ttl`. `owned`: nobody reads the text after the
  // scan, so a large one may be given back to the kernel as it goes.
  void Scan(absl::string_view text, const std::string& file, const std::string& origin,
            uint32_t ttl, int depth, bool owned);

  std::vector<FileStamp>& files() { return files_; }
  const std::vector<std::string>& errors() const { return errors_; }
  // False once nothing more is worth reading.
  bool going() const { return errors_.size() < kMaxErrors && !stopped_; }

 private:
  // `text` is the whole file, and the record's text starts at or after `from`.
  void Record(zs_scanner_t& scanner, absl::string_view text, size_t from, const std::string& file);
  void Include(zs_scanner_t& scanner, const std::string& file, int depth);
  void Error(absl::string_view file, uint64_t line, absl::string_view message,
             absl::string_view text = {});

  RecordPipe& records_;
  const ZoneFileLimits& limits_;
  size_t record_count_ = 0;
  std::vector<FileStamp> files_;
  std::vector<std::string> errors_;
  LineFinder* lines_ = nullptr;  // the text being scanned's
  bool stopped_ = false;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_progress_ = started_;
};

void Reader::Error(absl::string_view file, uint64_t line, absl::string_view message,
                   absl::string_view text) {
  if (errors_.size() >= kMaxErrors) return;
  std::string error = absl::StrCat(file, ":", line, ": ", message);
  if (!text.empty()) {
    const std::string quoted = lines_ != nullptr ? lines_->Quote(text, line) : std::string();
    if (!quoted.empty()) absl::StrAppend(&error, " (in '", quoted, "')");
  }
  errors_.push_back(std::move(error));
}

void Reader::Scan(absl::string_view text, const std::string& file, const std::string& origin,
                  uint32_t ttl, int depth, bool owned) {
  ScannerPtr scanner(new zs_scanner_t);
  if (zs_init(scanner.get(), origin.c_str(), kClassIn, ttl) != 0) {
    Error(file, 0, absl::StrCat("bad origin '", origin, "'"));
    return;
  }
  // Relative $INCLUDEs are found beside the including file.
  const std::string directory = std::filesystem::path(file).parent_path().string();
  std::free(scanner->path);
  scanner->path = strdup(directory.empty() ? "." : directory.c_str());
  if (scanner->path == nullptr || zs_set_input_string(scanner.get(), text.data(), text.size())) {
    Error(file, 0, "cannot start the zone scanner");
    return;
  }
  const char* const text_end = text.data() + text.size();
  // A large file's text goes back to the kernel as it is scanned; with its
  // own line finder, so that quoting stays cheap after includes.
  LineFinder lines;
  LineFinder* const outer_lines = std::exchange(lines_, &lines);
  const auto restore = absl::MakeCleanup([&] { lines_ = outer_lines; });
  size_t released = 0;
  while (going()) {
    // Where the scanner stands before a record: the record's text lies
    // between here and where it stops (until it reaches the final block it
    // appends after our text).
    const char* before = scanner->input.current;
    if (before < text.data() || before > text_end) before = text_end;
    if (owned && text.size() >= limits_.release_text_bytes &&
        static_cast<size_t>(before - text.data()) >= released + limits_.release_text_bytes / 4) {
      released = static_cast<size_t>(before - text.data());
      lines.Release(text, released);
    }
    if (zs_parse_record(scanner.get()) != 0 && scanner->state != ZS_STATE_ERROR) {
      Error(file, scanner->line_counter, zs_strerror(scanner->error.code), text);
      return;
    }
    switch (scanner->state) {
      case ZS_STATE_DATA:
        Record(*scanner, text, static_cast<size_t>(before - text.data()), file);
        break;
      case ZS_STATE_ERROR:
        Error(file, scanner->line_counter, zs_strerror(scanner->error.code), text);
        if (scanner->error.fatal) return;
        break;
      case ZS_STATE_INCLUDE:
        // libzscanner leaves an $INCLUDE's call frame on its stack when it
        // hands the include to us (it jumps back to its main machine without
        // returning); 16 of them overflow the stack it copies onto the C
        // stack. Back in its main machine, no frame is live.
        scanner->top = 0;
        Include(*scanner, file, depth);
        break;
      case ZS_STATE_EOF:
      case ZS_STATE_STOP:
        return;
      default:
        break;
    }
  }
}

void Reader::Include(zs_scanner_t& scanner, const std::string& file, int depth) {
  const uint64_t line = scanner.line_counter;
  if (depth >= limits_.max_include_depth) {
    Error(file, line, absl::StrCat("$INCLUDE nested deeper than ", limits_.max_include_depth));
    stopped_ = true;
    return;
  }
  // The scanner made the name absolute and put the origin, in text, in buffer.
  const std::string path(scanner.include_filename);
  const std::string origin(reinterpret_cast<const char*>(scanner.buffer));
  files_.push_back(StampFile(path));
  auto text = ReadFile(path);
  if (!text.ok()) {
    Error(file, line, absl::StrCat("$INCLUDE ", path, ": ", text.status().message()));
    return;
  }
  // The included file's $ORIGIN changes stay inside it (RFC 1035 §5.1).
  Scan(*text, path, origin, scanner.default_ttl, depth + 1, /*owned=*/true);
}

void Reader::Record(zs_scanner_t& scanner, absl::string_view text, size_t from,
                    const std::string& file) {
  const uint64_t line = scanner.line_counter;
  if (record_count_ >= limits_.max_records) {
    Error(file, line, absl::StrCat("more than ", limits_.max_records, " records"));
    stopped_ = true;
    return;
  }
  const uint16_t type = scanner.r_type;
  if (type == type::kOpt || type == type::kTsig || type == 249 /* TKEY */ ||
      (type >= 251 && type <= 255) /* IXFR AXFR MAILB MAILA ANY */) {
    Error(file, line, "this record type cannot appear in a zone", text);
    return;
  }
  if (scanner.r_ttl > 0x7fffffff) {
    Error(file, line, absl::StrCat("TTL ", scanner.r_ttl, " above 2147483647 (RFC 2181 section 8)"),
          text);
    return;
  }
  const absl::string_view rdata(reinterpret_cast<const char*>(scanner.r_data),
                                scanner.r_data_length);
  // The scanner stopped just past this record, so its text lies before that.
  // Escapes there are what the scanner leaves to us.
  const size_t to =
      scanner.input.current >= text.data() && scanner.input.current <= text.data() + text.size()
          ? static_cast<size_t>(scanner.input.current - text.data())
          : text.size();
  const absl::string_view record_text = text.substr(from, std::max(to, from) - from);
  if (record_text.find('\\') != absl::string_view::npos) {
    const Escapes escapes = FindEscapes(record_text);
    if (escapes.above_255) {
      // The scanner takes "\256" in a name as the octet 0.
      Error(file, line, "\\DDD escape above \\255 (RFC 1035 section 5.1)", text);
      return;
    }
    // Only RFC 3597 text can give data its type does not allow.
    if (escapes.generic) {
      if (auto status = CheckGenericRdata(type, rdata); !status.ok()) {
        Error(file, line, status.message(), text);
        return;
      }
    }
  }
  const absl::string_view owner(reinterpret_cast<const char*>(scanner.r_owner),
                                scanner.r_owner_length);
  records_.Add(owner, type, scanner.r_ttl, rdata, file, static_cast<int>(line));
  if ((++record_count_ & 0xffff) == 0 && limits_.progress) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ >= std::chrono::seconds(2)) {
      last_progress_ = now;
      limits_.progress(record_count_, std::chrono::duration<double>(now - started_).count());
    }
  }
}

std::string Absolute(absl::string_view origin) {
  std::string text(origin);
  if (text.empty() || text.back() != '.') text += '.';
  return text;
}

std::string OriginFromFileName(const std::string& path) {
  std::string base = std::filesystem::path(path).filename().string();
  if (base.ends_with(".zone")) base.resize(base.size() - 5);
  if (base.empty() || base.back() != '.') base += '.';
  return base;
}

// `current`, when given, is what the text gave before: few names changed
// become an overlay over it (and `diff` what changed).
absl::StatusOr<std::unique_ptr<Zone>> Compile(std::string text, const std::string& source,
                                              absl::string_view origin,
                                              const ZoneFileLimits& limits,
                                              std::vector<FileStamp> files,
                                              std::shared_ptr<const Zone> current = nullptr,
                                              ZoneDiff* diff = nullptr) {
  ZoneBuilder builder(source);
  // About one record per 25 bytes of master file text.
  builder.Reserve(text.size() / 25 + 16);
  {
    // Big zones: scan here while another core interns names and files the
    // records; single-core machines and small zones do both in one thread.
    RecordPipe records(
        builder, text.size() >= kThreadedLoadBytes && std::thread::hardware_concurrency() > 1);
    Reader reader(records, limits);
    reader.Scan(text, source, Absolute(origin), kDefaultTtl, 0, /*owned=*/true);
    records.Finish();
    if (!reader.errors().empty()) {
      return absl::InvalidArgumentError(absl::StrJoin(reader.errors(), "\n"));
    }
    files.insert(files.end(), reader.files().begin(), reader.files().end());
  }
  std::string().swap(text);  // the records are in the builder now
  if (current != nullptr) {
    auto overlay = builder.BuildChanges(std::move(current), diff);
    if (overlay.ok()) {
      (*overlay)->set_files(std::move(files));
      return overlay;
    }
  }
  auto zone = builder.Build();
  if (zone.ok()) (*zone)->set_files(std::move(files));
  return zone;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Zone>> ParseZoneText(absl::string_view text,
                                                    const std::string& source,
                                                    absl::string_view origin,
                                                    const ZoneFileLimits& limits) {
  return Compile(std::string(text), source, origin, limits, {});
}

absl::Status ReadZoneText(absl::string_view text, const std::string& source,
                          absl::string_view origin, ZoneBuilder& builder) {
  const ZoneFileLimits limits;
  RecordPipe records(builder, /*threaded=*/false);
  Reader reader(records, limits);
  reader.Scan(text, source, Absolute(origin), kDefaultTtl, 0, /*owned=*/false);
  records.Finish();
  if (reader.errors().empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(reader.errors(), "\n"));
}

absl::Status ScanZoneText(absl::string_view text, const std::string& source,
                          absl::string_view origin) {
  ZoneBuilder discarded(source);
  return ReadZoneText(text, source, origin, discarded);
}

absl::StatusOr<std::unique_ptr<Zone>> LoadZoneFile(const std::string& path,
                                                   const ZoneFileLimits& limits) {
  return ReloadZoneFile(path, nullptr, nullptr, limits);
}

absl::StatusOr<std::unique_ptr<Zone>> ReloadZoneFile(const std::string& path,
                                                     std::shared_ptr<const Zone> current,
                                                     ZoneDiff* diff, const ZoneFileLimits& limits) {
  // Stamped before reading: a write during the read makes the next reload
  // read the file again rather than miss the change.
  FileStamp stamp = StampFile(path);
  auto text = ReadFile(path);
  if (!text.ok())
    return absl::Status(text.status().code(), absl::StrCat(path, ":0: ", text.status().message()));
  return Compile(*std::move(text), path, OriginFromFileName(path), limits, {std::move(stamp)},
                 std::move(current), diff);
}

}  // namespace agility::dns
