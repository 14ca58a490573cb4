/*
 * crc32c.h - CRC32C (Castagnoli) checksums for the on-disk formats.
 */
#ifndef VIGIL_TSDB_CRC32C_H
#define VIGIL_TSDB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of len bytes. */
uint32_t crc32c(const void *data, size_t len);

/* Continues a CRC: crc32c_update(crc32c(a), b) == crc32c(a ‖ b); start from 0. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* The portable table implementation, for tests that compare it with the hardware path. */
uint32_t crc32c_sw(const void *data, size_t len);

#endif /* VIGIL_TSDB_CRC32C_H */
