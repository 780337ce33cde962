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
