#include "dns/zone_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <chrono>
#include <thread>

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dns/record_parser.h"
#include "dns/record_pipe.h"
#include "dns/zone_builder.h"

// ldns defines bool, true and false as macros: after every C++ header.
#include <ldns/ldns.h>

namespace agility::dns {
namespace {

constexpr size_t kThreadedLoadBytes = 1 << 20;

struct RdfDeleter {
  void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
using RdfPtr = std::unique_ptr<ldns_rdf, RdfDeleter>;

struct RrDeleter {
  void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
using RrPtr = std::unique_ptr<ldns_rr, RrDeleter>;

struct BufferDeleter {
  void operator()(ldns_buffer* b) const { ldns_buffer_free(b); }
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  // One read into an exactly sized string: zone files can be gigabytes.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat(path, ":0: cannot open: ", strerror(errno)));
  struct stat st;
  std::string text;
  if (fstat(fd, &st) == 0 && st.st_size > 0) text.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (true) {
    if (done == text.size()) text.resize(text.size() + 65536);  // growing (e.g. a pipe)
    const ssize_t n = read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::DataLossError(absl::StrCat(path, ":0: read error: ", strerror(error)));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(done);
  return text;
}

absl::Status ErrorAt(absl::string_view file, int line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", message));
}

// State shared across a file and the files it includes.
class Reader {
 public:
  Reader(RecordPipe& records, const ZoneFileLimits& limits)
      : records_(records), limits_(limits), buffer_(ldns_buffer_new(512)) {}
  ~Reader() {
    if (prev_ != nullptr) ldns_rdf_deep_free(prev_);
  }

  absl::Status ReadText(absl::string_view text, const std::string& file, RdfPtr origin, int depth);
  std::vector<FileStamp>& files() { return files_; }

 private:
  absl::Status Entry(absl::string_view entry, const std::string& file, int line, RdfPtr& origin,
                     int depth);
  absl::Status Directive(absl::string_view entry, const std::string& file, int line, RdfPtr& origin,
                         int depth);
  void AddRecord(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
                 const std::string& file, int line);

  RecordPipe& records_;
  size_t record_count_ = 0;
  const ZoneFileLimits& limits_;
  std::unique_ptr<ldns_buffer, BufferDeleter> buffer_;
  std::vector<FileStamp> files_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_progress_ = started_;
  ldns_rdf* prev_ = nullptr;    // owner inherited by entries starting with blanks
  std::string previous_owner_;  // the same, lowercase wire, for the fast path
  bool prev_stale_ = false;     // prev_ lags behind previous_owner_
  ParsedRecord parsed_;
  uint32_t default_ttl_ = 3600;
};

absl::Status Reader::ReadText(absl::string_view text, const std::string& file, RdfPtr origin,
                              int depth) {
  std::string entry;
  int line = 1;
  int entry_line = 1;
  int parens = 0;
  bool quoted = false;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (entry.empty() && parens == 0 && i < text.size()) {
      // Most lines are one whole record with nothing to strip: hand them over
      // as they are, without copying.
      size_t end = text.find('\n', i);
      if (end == absl::string_view::npos) end = text.size();
      const absl::string_view plain = text.substr(i, end - i);
      if (plain.find_first_of(";()\"\\\r") == absl::string_view::npos &&
          plain.size() <= limits_.max_entry_length) {
        if (plain.find_first_not_of(" \t") != absl::string_view::npos) {
          if (auto status = Entry(plain, file, line, origin, depth); !status.ok()) return status;
        }
        i = end;
        ++line;
        entry_line = line;
        continue;
      }
    }
    const char c = i < text.size() ? text[i] : '\n';
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        entry += c;
        entry += text[++i];
        continue;
      }
      if (c == '"') quoted = false;
      if (c == '\n') return ErrorAt(file, line, "unterminated quoted string");
      entry += c;
    } else if (c == ';') {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
    } else if (c == '"') {
      quoted = true;
      entry += c;
    } else if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
      entry += c;
      entry += text[++i];
    } else if (c == '(') {
      ++parens;
      entry += ' ';
    } else if (c == ')') {
      if (--parens < 0) return ErrorAt(file, line, "')' without '('");
      entry += ' ';
    } else if (c == '\n') {
      if (parens > 0) {
        entry += ' ';
      } else {
        if (absl::StripAsciiWhitespace(entry).size() > 0) {
          if (auto status = Entry(entry, file, entry_line, origin, depth); !status.ok()) {
            return status;
          }
        }
        entry.clear();
        entry_line = line + 1;
      }
      ++line;
      continue;
    } else {
      entry += c == '\r' ? ' ' : c;
    }
    if (entry.size() > limits_.max_entry_length) {
      return ErrorAt(file, entry_line, "record longer than the limit");
    }
  }
  if (parens > 0) return ErrorAt(file, entry_line, "'(' without ')'");
  return absl::OkStatus();
}

absl::Status Reader::Directive(absl::string_view entry, const std::string& file, int line,
                               RdfPtr& origin, int depth) {
  std::vector<absl::string_view> words =
      absl::StrSplit(entry, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  const std::string keyword = absl::AsciiStrToUpper(words[0]);
  if (keyword == "$ORIGIN" && words.size() == 2) {
    std::string name(words[1]);
    if (name.back() != '.') {
      return ErrorAt(file, line, "$ORIGIN must be an absolute name (ending in '.')");
    }
    RdfPtr rdf(ldns_dname_new_frm_str(name.c_str()));
    if (!rdf) return ErrorAt(file, line, absl::StrCat("bad $ORIGIN name '", name, "'"));
    origin = std::move(rdf);
    return absl::OkStatus();
  }
  if (keyword == "$TTL" && words.size() == 2) {
    const auto ttl = ParseTtl(words[1]);
    if (!ttl.ok()) return ErrorAt(file, line, absl::StrCat("$TTL: ", ttl.status().message()));
    default_ttl_ = *ttl;
    return absl::OkStatus();
  }
  if (keyword == "$INCLUDE" && (words.size() == 2 || words.size() == 3)) {
    if (depth >= limits_.max_include_depth) {
      return ErrorAt(file, line,
                     absl::StrCat("$INCLUDE nested deeper than ", limits_.max_include_depth));
    }
    std::filesystem::path path{std::string(words[1])};
    if (path.is_relative()) path = std::filesystem::path(file).parent_path() / path;
    RdfPtr include_origin(ldns_rdf_clone(origin.get()));
    if (words.size() == 3) {
      std::string name(words[2]);
      include_origin.reset(ldns_dname_new_frm_str(name.c_str()));
      if (!include_origin || name.back() != '.') {
        return ErrorAt(file, line, absl::StrCat("bad $INCLUDE origin '", name, "'"));
      }
    }
    files_.push_back(StampFile(path.string()));
    auto text = ReadFile(path.string());
    if (!text.ok()) {
      return ErrorAt(file, line,
                     absl::StrCat("$INCLUDE ", path.string(), ": cannot read: ", strerror(errno)));
    }
    // The included file's $ORIGIN changes stay inside it (RFC 1035 §5.1).
    return ReadText(*text, path.string(), std::move(include_origin), depth + 1);
  }
  return ErrorAt(file, line, absl::StrCat("unsupported or malformed directive '", words[0], "'"));
}

absl::Status Reader::Entry(absl::string_view entry, const std::string& file, int line,
                           RdfPtr& origin, int depth) {
  if (entry[0] == '$') return Directive(entry, file, line, origin, depth);
  if (record_count_ >= limits_.max_records) {
    return ErrorAt(file, line, absl::StrCat("more than ", limits_.max_records, " records"));
  }
  const absl::string_view origin_wire =
      AsChars(ldns_rdf_data(origin.get()), ldns_rdf_size(origin.get()));
  if (ParseCommonRecord(entry, origin_wire, previous_owner_, default_ttl_, parsed_)) {
    previous_owner_ = parsed_.owner;
    prev_stale_ = true;
    AddRecord(parsed_.owner, parsed_.type, parsed_.ttl, parsed_.rdata, file, line);
    return absl::OkStatus();
  }
  if (prev_stale_ && !previous_owner_.empty()) {
    // Records parsed without ldns moved the inherited owner on.
    if (prev_ != nullptr) ldns_rdf_deep_free(prev_);
    prev_ = ldns_dname_new_frm_data(static_cast<uint16_t>(previous_owner_.size()),
                                    previous_owner_.data());
  }
  prev_stale_ = false;
  // ldns wraps TTLs at 2^32, ignores what follows their digits and reads a
  // $TTL of 0 as 3600: the TTL is taken from the text here instead.
  const auto explicit_ttl = ExplicitTtl(entry);
  if (!explicit_ttl.ok()) return ErrorAt(file, line, explicit_ttl.status().message());
  const uint32_t ttl = explicit_ttl->ttl.value_or(default_ttl_);
  std::string text;
  if (explicit_ttl->ttl.has_value()) {
    text = absl::StrCat(entry.substr(0, explicit_ttl->begin), " ", entry.substr(explicit_ttl->end));
  } else {
    text = std::string(entry);
  }
  ldns_rr* raw = nullptr;
  const ldns_status status =
      ldns_rr_new_frm_str(&raw, text.c_str(), default_ttl_, origin.get(), &prev_);
  RrPtr rr(raw);
  if (status != LDNS_STATUS_OK) {
    return ErrorAt(file, line, ldns_get_errorstr_by_id(status));
  }
  // ldns stores "TYPEnnn"/"CLASSnnn" numbers unchecked in its enums, so they
  // are read as plain integers (a wider value is not a valid enum to load).
  const uint32_t class_number = ldns_rr_get_class(rr.get());
  if (class_number != LDNS_RR_CLASS_IN) {
    return ErrorAt(file, line, "only class IN is served");
  }
  const uint32_t type_number = ldns_rr_get_type(rr.get());
  if (type_number > UINT16_MAX) {
    return ErrorAt(file, line, "record type number above 65535");
  }
  const auto type = static_cast<uint16_t>(type_number);
  if (type == LDNS_RR_TYPE_OPT || type == LDNS_RR_TYPE_TSIG || type == LDNS_RR_TYPE_ANY ||
      type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR) {
    return ErrorAt(file, line, "this record type cannot appear in a zone");
  }
  ldns_rdf* owner = ldns_rr_owner(rr.get());
  std::string name(reinterpret_cast<const char*>(ldns_rdf_data(owner)), ldns_rdf_size(owner));
  for (char& c : name) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
  ldns_buffer_clear(buffer_.get());
  if (ldns_rr_rdata2buffer_wire(buffer_.get(), rr.get()) != LDNS_STATUS_OK) {
    return ErrorAt(file, line, "cannot encode record data");
  }
  const size_t size = ldns_buffer_position(buffer_.get());
  if (size > UINT16_MAX) return ErrorAt(file, line, "record data longer than 65535 bytes");
  const absl::string_view rdata = AsChars(ldns_buffer_begin(buffer_.get()), size);
  if (!IsWellFormedRdata(type, rdata)) {
    return ErrorAt(file, line, "malformed record data for its type");
  }
  previous_owner_ = name;
  AddRecord(name, type, ttl, rdata, file, line);
  return absl::OkStatus();
}

void Reader::AddRecord(absl::string_view owner, uint16_t type, uint32_t ttl,
                       absl::string_view rdata, const std::string& file, int line) {
  records_.Add(owner, type, ttl, rdata, file, line);
  if ((++record_count_ & 0xffff) == 0 && limits_.progress) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress_ >= std::chrono::seconds(2)) {
      last_progress_ = now;
      limits_.progress(record_count_, std::chrono::duration<double>(now - started_).count());
    }
  }
}

std::string OriginFromFileName(const std::string& path) {
  std::string base = std::filesystem::path(path).filename().string();
  if (base.ends_with(".zone")) base.resize(base.size() - 5);
  if (base.empty() || base.back() != '.') base += '.';
  return base;
}

absl::StatusOr<std::unique_ptr<Zone>> Compile(std::string text, const std::string& source,
                                              absl::string_view origin,
                                              const ZoneFileLimits& limits,
                                              std::vector<FileStamp> files) {
  std::string origin_text(origin);
  if (origin_text.empty() || origin_text.back() != '.') origin_text += '.';
  RdfPtr origin_rdf(ldns_dname_new_frm_str(origin_text.c_str()));
  if (!origin_rdf) origin_rdf.reset(ldns_dname_new_frm_str("."));
  ZoneBuilder builder(source);
  // About one record per 25 bytes of master file text.
  builder.Reserve(text.size() / 25 + 16);
  {
    // Big zones: parse here while another core interns names and files the
    // records; single-core machines and small zones do both in one thread.
    RecordPipe records(
        builder, text.size() >= kThreadedLoadBytes && std::thread::hardware_concurrency() > 1);
    Reader reader(records, limits);
    if (auto status = reader.ReadText(text, source, std::move(origin_rdf), 0); !status.ok()) {
      return status;
    }
    records.Finish();
    files.insert(files.end(), reader.files().begin(), reader.files().end());
  }
  std::string().swap(text);  // the records are in the builder now
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

absl::StatusOr<std::unique_ptr<Zone>> LoadZoneFile(const std::string& path,
                                                   const ZoneFileLimits& limits) {
  // Stamped before reading: a write during the read makes the next reload
  // read the file again rather than miss the change.
  FileStamp stamp = StampFile(path);
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return Compile(*std::move(text), path, OriginFromFileName(path), limits, {std::move(stamp)});
}

}  // namespace agility::dns
