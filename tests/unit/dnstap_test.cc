#include <arpa/inet.h>
#include <fstrm.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "dnstap/dnstap.pb-c.h"
#include "dnstap/dnstap_sink.h"
#include "dnstap/encoder.h"
#include "dnstap/frame_ring.h"

namespace agility::dnstap {
namespace {

TEST(FrameRingTest, FramesComeBackInAnyOrderAndTheRingWraps) {
  FrameRing ring(1024);
  std::vector<uint8_t*> held;
  for (int i = 0; i < 8; ++i) {
    uint8_t* frame = ring.Reserve(120);  // 128 with its header
    ASSERT_NE(frame, nullptr) << i;
    held.push_back(frame);
  }
  EXPECT_EQ(ring.Reserve(1), nullptr) << "full";
  // A later frame given back first frees nothing while the oldest is held.
  FrameRing::Release(held[1]);
  EXPECT_EQ(ring.Reserve(1), nullptr);
  FrameRing::Release(held[0]);
  // Two frames' room at the front now: the next frame wraps there.
  uint8_t* wrapped = ring.Reserve(200);
  EXPECT_EQ(wrapped, held[0]);
  EXPECT_EQ(ring.Reserve(100), nullptr) << "48 octets left before the oldest held frame";
  for (size_t i = 2; i < held.size(); ++i) FrameRing::Release(held[i]);
  EXPECT_NE(ring.Reserve(800), nullptr) << "all but the wrapped frame given back";
  EXPECT_EQ(ring.Reserve(1), nullptr);
  EXPECT_EQ(ring.used(), 1016u);
}

TEST(FrameRingTest, TheLastFrameShrinksToWhatWasMade) {
  FrameRing ring(1024);
  uint8_t* first = ring.Reserve(500);
  ring.Shrink(first, 100);  // 112 with its header
  EXPECT_EQ(ring.used(), 112u);
  uint8_t* second = ring.Reserve(800);
  EXPECT_EQ(second, first + 112);
  ring.Shrink(second, 900);  // never grows
  EXPECT_EQ(ring.used(), 112u + 808u);
}

TEST(FrameRingTest, AnEmptyRingStartsAgainAtTheFront) {
  FrameRing ring(1024);
  for (int round = 0; round < 100; ++round) {
    uint8_t* frame = ring.Reserve(900);
    ASSERT_NE(frame, nullptr) << round;
    std::memset(frame, round, 900);
    FrameRing::Release(frame);
  }
  EXPECT_EQ(ring.Reserve(1024), nullptr) << "larger than the ring";
}

// What protobuf-c, from dnstap.proto, packs for the same exchange.
std::vector<uint8_t> PackedByProtobufC(const std::string& identity, const std::string& version,
                                       const Exchange& e) {
  Dnstap__Message m = DNSTAP__MESSAGE__INIT;
  m.type = static_cast<Dnstap__Message__Type>(e.type);
  m.has_socket_protocol = true;
  m.socket_protocol = e.tcp ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
  if (e.client->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(e.client);
    m.has_socket_family = m.has_query_address = m.has_query_port = true;
    m.socket_family = DNSTAP__SOCKET_FAMILY__INET;
    m.query_address = {4, const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(&in->sin_addr))};
    m.query_port = ntohs(in->sin_port);
  } else if (e.client->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(e.client);
    m.has_socket_family = m.has_query_address = m.has_query_port = true;
    m.socket_family = DNSTAP__SOCKET_FAMILY__INET6;
    m.query_address = {16, const_cast<uint8_t*>(in6->sin6_addr.s6_addr)};
    m.query_port = ntohs(in6->sin6_port);
  }
  m.has_query_time_sec = m.has_query_time_nsec = true;
  m.query_time_sec = static_cast<uint64_t>(e.time.tv_sec);
  m.query_time_nsec = static_cast<uint32_t>(e.time.tv_nsec);
  const ProtobufCBinaryData wire = {e.wire.size(), const_cast<uint8_t*>(e.wire.data())};
  if (e.type == MessageType::kAuthQuery) {
    m.has_query_message = true;
    m.query_message = wire;
  } else {
    m.has_response_time_sec = m.has_response_time_nsec = m.has_response_message = true;
    m.response_time_sec = m.query_time_sec;
    m.response_time_nsec = m.query_time_nsec;
    m.response_message = wire;
  }
  Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
  d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
  d.message = &m;
  if (!identity.empty()) {
    d.has_identity = true;
    d.identity = {identity.size(), reinterpret_cast<uint8_t*>(const_cast<char*>(identity.data()))};
  }
  if (!version.empty()) {
    d.has_version = true;
    d.version = {version.size(), reinterpret_cast<uint8_t*>(const_cast<char*>(version.data()))};
  }
  std::vector<uint8_t> out(dnstap__dnstap__get_packed_size(&d));
  dnstap__dnstap__pack(&d, out.data());
  return out;
}

TEST(DnstapEncoderTest, WritesWhatProtobufCWrites) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  v4.sin_port = htons(53000);
  inet_pton(AF_INET, "192.0.2.7", &v4.sin_addr);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  v6.sin6_port = htons(1);
  inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr);
  sockaddr unspecified{};
  unspecified.sa_family = AF_UNIX;
  for (const sockaddr* client :
       {reinterpret_cast<const sockaddr*>(&v4), reinterpret_cast<const sockaddr*>(&v6),
        static_cast<const sockaddr*>(&unspecified)}) {
    for (const size_t size : {size_t{0}, size_t{12}, size_t{127}, size_t{128}, size_t{16383},
                              size_t{16384}, size_t{65535}}) {
      const std::vector<uint8_t> wire(size, 0xab);
      for (const MessageType type : {MessageType::kAuthQuery, MessageType::kAuthResponse}) {
        for (const struct timespec& time :
             {timespec{0, 0}, timespec{1764331200, 999999999}, timespec{1LL << 40, 5}}) {
          for (const std::string& identity : {std::string(), std::string("edge-1")}) {
            const Exchange e{type, client, size % 2 == 1, time, wire};
            std::vector<uint8_t> ours(EncodedSizeBound(identity, "agility 1", e));
            ours.resize(Encode(identity, "agility 1", e, ours.data()));
            ASSERT_EQ(ours, PackedByProtobufC(identity, "agility 1", e))
                << "family " << client->sa_family << ", size " << size;
          }
        }
      }
    }
  }
}

// What a file sink wrote, decoded with fstrm's reader and protobuf-c.
std::vector<Dnstap__Dnstap*> ReadFrames(const std::string& path) {
  fstrm_file_options* file = fstrm_file_options_init();
  fstrm_file_options_set_file_path(file, path.c_str());
  fstrm_reader* reader = fstrm_file_reader_init(file, nullptr);
  fstrm_file_options_destroy(&file);
  std::vector<Dnstap__Dnstap*> frames;
  const uint8_t* data = nullptr;
  size_t size = 0;
  while (reader != nullptr && fstrm_reader_read(reader, &data, &size) == fstrm_res_success) {
    frames.push_back(dnstap__dnstap__unpack(nullptr, size, data));
  }
  if (reader != nullptr) fstrm_reader_destroy(&reader);
  return frames;
}

TEST(DnstapSinkTest, WritesQueriesAndResponsesDnstapReads) {
  const std::string path = ::testing::TempDir() + "/dnstap_test.fstrm";
  std::filesystem::remove(path);
  const std::vector<uint8_t> query = {0x12, 0x34, 1, 0,   0, 1, 0, 0, 0, 0,
                                      0,    0,    1, 'a', 0, 0, 1, 0, 1};
  std::vector<uint8_t> response = query;
  response[2] |= 0x80;
  sockaddr_in6 client{};
  client.sin6_family = AF_INET6;
  client.sin6_port = htons(5353);
  inet_pton(AF_INET6, "2001:db8::7", &client.sin6_addr);
  {
    auto sink = Sink::Open({"", path, true, true, 1, "edge-1", "agility test"}, 2);
    ASSERT_TRUE(sink.ok()) << sink.status();
    WorkerLog* log = (*sink)->worker(1);
    ASSERT_TRUE(log->Sampled());
    log->Log(reinterpret_cast<const sockaddr*>(&client), /*tcp=*/true, query, response);
    ASSERT_TRUE(log->Sampled());
    log->Log(reinterpret_cast<const sockaddr*>(&client), /*tcp=*/false, query, {});
    EXPECT_EQ((*sink)->sent(), 3u);
    EXPECT_EQ((*sink)->dropped(), 0u);
  }  // closed: written out
  const std::vector<Dnstap__Dnstap*> frames = ReadFrames(path);
  ASSERT_EQ(frames.size(), 3u);
  for (Dnstap__Dnstap* frame : frames) ASSERT_NE(frame, nullptr);
  const Dnstap__Message* first = frames[0]->message;
  EXPECT_EQ(std::string(reinterpret_cast<char*>(frames[0]->identity.data), frames[0]->identity.len),
            "edge-1");
  EXPECT_EQ(first->type, DNSTAP__MESSAGE__TYPE__AUTH_QUERY);
  EXPECT_EQ(first->socket_family, DNSTAP__SOCKET_FAMILY__INET6);
  EXPECT_EQ(first->socket_protocol, DNSTAP__SOCKET_PROTOCOL__TCP);
  EXPECT_EQ(first->query_port, 5353u);
  EXPECT_EQ(std::vector<uint8_t>(first->query_address.data, first->query_address.data + 16),
            std::vector<uint8_t>(client.sin6_addr.s6_addr, client.sin6_addr.s6_addr + 16));
  EXPECT_EQ(std::vector<uint8_t>(first->query_message.data,
                                 first->query_message.data + first->query_message.len),
            query);
  const Dnstap__Message* second = frames[1]->message;
  EXPECT_EQ(second->type, DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE);
  EXPECT_FALSE(second->has_query_message);
  EXPECT_EQ(std::vector<uint8_t>(second->response_message.data,
                                 second->response_message.data + second->response_message.len),
            response);
  EXPECT_TRUE(second->has_response_time_sec);
  EXPECT_EQ(frames[2]->message->socket_protocol, DNSTAP__SOCKET_PROTOCOL__UDP);
  for (Dnstap__Dnstap* frame : frames) dnstap__dnstap__free_unpacked(frame, nullptr);
}

TEST(DnstapSinkTest, SamplesOneInN) {
  const std::string path = ::testing::TempDir() + "/dnstap_sample.fstrm";
  auto sink = Sink::Open({"", path, true, false, 4, "", "v"}, 1);
  ASSERT_TRUE(sink.ok()) << sink.status();
  std::string picked;
  for (int i = 0; i < 12; ++i) picked += (*sink)->worker(0)->Sampled() ? 'x' : '.';
  EXPECT_EQ(picked, "x...x...x...");
}

TEST(DnstapSinkTest, AFileThatCannotBeWrittenIsAnErrorAtOnce) {
  auto sink = Sink::Open({"", "/nonexistent-directory/x.fstrm", true, true, 1, "", "v"}, 1);
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.status().message().find("/nonexistent-directory/x.fstrm"), std::string::npos);
}

}  // namespace
}  // namespace agility::dnstap
