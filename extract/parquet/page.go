package parquet

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/apache/thrift/lib/go/thrift"
	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	pq "github.com/xitongsys/parquet-go/parquet"
)

// maxPageBytes bounds one page, compressed or not: a page is the unit of
// compression, so its bytes are in memory while it is read. Writers cut
// pages at about 1 MiB (Arrow, parquet-mr, DuckDB); a larger claim is a
// damaged header.
const maxPageBytes = 256 << 20

// maxHeaderBytes bounds a page header (its statistics can hold long
// strings).
const maxHeaderBytes = 16 << 20

// thriftRead decodes a Thrift compact struct from b and returns how many
// bytes it took. Sizes inside it are bounded by len(b), so damaged bytes
// cannot make it allocate more than that.
func thriftRead(b []byte, v interface {
	Read(context.Context, thrift.TProtocol) error
}) (int, error) {
	buf := &thrift.TMemoryBuffer{Buffer: bytes.NewBuffer(b)}
	p := thrift.NewTCompactProtocolConf(buf, &thrift.TConfiguration{MaxMessageSize: int32(min(len(b), 1<<30))})
	if err := v.Read(context.Background(), p); err != nil {
		return 0, err
	}
	return len(b) - buf.Len(), nil
}

// readHeader reads the page header at off; the page must end by end.
func readHeader(r io.ReaderAt, off, end int64, buf []byte) (*pq.PageHeader, int, []byte, error) {
	for size := int64(16 << 10); ; size *= 8 {
		size = min(size, end-off, maxHeaderBytes)
		if size <= 0 {
			return nil, 0, buf, errors.New("no page header before the column chunk's end")
		}
		buf = grow(buf, int(size))
		if _, err := r.ReadAt(buf, off); err != nil {
			return nil, 0, buf, err
		}
		h := pq.NewPageHeader()
		n, err := thriftRead(buf, h)
		if err == nil {
			return h, n, buf, nil
		}
		if size == end-off || size == maxHeaderBytes {
			return nil, 0, buf, fmt.Errorf("page header: %w", err)
		}
	}
}

// checkHeader rejects a header no writer writes, so that damaged bytes that
// happen to decode are not taken for a page.
func checkHeader(h *pq.PageHeader, hlen int, off, end int64, chunkValues int64) error {
	if h.CompressedPageSize < 0 || h.UncompressedPageSize < 0 ||
		h.CompressedPageSize > maxPageBytes || h.UncompressedPageSize > maxPageBytes {
		return fmt.Errorf("page header: sizes %d / %d", h.CompressedPageSize, h.UncompressedPageSize)
	}
	if off+int64(hlen)+int64(h.CompressedPageSize) > end {
		return fmt.Errorf("page header: a page of %d bytes past the column chunk's end", h.CompressedPageSize)
	}
	var n int32
	switch h.Type {
	case pq.PageType_DATA_PAGE:
		if h.DataPageHeader == nil {
			return errors.New("page header: data page without its header")
		}
		n = h.DataPageHeader.NumValues
	case pq.PageType_DATA_PAGE_V2:
		v2 := h.DataPageHeaderV2
		if v2 == nil {
			return errors.New("page header: data page v2 without its header")
		}
		n = v2.NumValues
		if v2.NumNulls < 0 || v2.NumNulls > n || v2.NumRows < 0 || v2.NumRows > n ||
			v2.RepetitionLevelsByteLength < 0 || v2.DefinitionLevelsByteLength < 0 ||
			int64(v2.RepetitionLevelsByteLength)+int64(v2.DefinitionLevelsByteLength) > int64(min(h.CompressedPageSize, h.UncompressedPageSize)) {
			return errors.New("page header: data page v2 counts do not add up")
		}
	case pq.PageType_DICTIONARY_PAGE:
		if h.DictionaryPageHeader == nil {
			return errors.New("page header: dictionary page without its header")
		}
		n = h.DictionaryPageHeader.NumValues
	case pq.PageType_INDEX_PAGE:
		return nil
	default:
		return fmt.Errorf("page header: page type %d", h.Type)
	}
	if n < 0 || (h.Type != pq.PageType_DICTIONARY_PAGE && int64(n) > chunkValues) {
		return fmt.Errorf("page header: %d values in a column chunk of %d", n, chunkValues)
	}
	return nil
}

// checkCRC verifies the page's checksum when the writer wrote one: the only
// way to tell damaged values that still decode from good ones.
func checkCRC(h *pq.PageHeader, payload []byte) error {
	if h.Crc == nil {
		return nil
	}
	if got := crc32.ChecksumIEEE(payload); got != uint32(*h.Crc) {
		return fmt.Errorf("page checksum mismatch (CRC32 %08x, header says %08x)", got, uint32(*h.Crc))
	}
	return nil
}

var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	// One decoder for the process, decoding into the caller's buffer and no
	// further than its capacity: a damaged frame cannot claim gigabytes.
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderMaxMemory(maxPageBytes))
})

// decompress decodes src into dst's storage, which it grows to size; the
// result must be exactly size bytes, as the page header says.
func decompress(codec pq.CompressionCodec, dst, src []byte, size int) ([]byte, error) {
	if codec == pq.CompressionCodec_UNCOMPRESSED {
		if len(src) != size {
			return nil, fmt.Errorf("uncompressed page of %d bytes, header says %d", len(src), size)
		}
		return src, nil
	}
	dst = grow(dst, size)
	var (
		n   int
		err error
	)
	switch codec {
	case pq.CompressionCodec_SNAPPY:
		var l int
		if l, err = snappy.DecodedLen(src); err == nil && l != size {
			err = fmt.Errorf("snappy block of %d bytes, header says %d", l, size)
		}
		if err == nil {
			var out []byte
			out, err = snappy.Decode(dst, src)
			n = len(out)
		}
	case pq.CompressionCodec_ZSTD:
		var d *zstd.Decoder
		if d, err = zstdDecoder(); err == nil {
			var out []byte
			out, err = d.DecodeAll(src, dst[:0])
			n = len(out)
		}
	case pq.CompressionCodec_LZ4_RAW:
		n, err = lz4.UncompressBlock(src, dst)
	case pq.CompressionCodec_LZ4:
		n, err = hadoopLZ4(src, dst)
	case pq.CompressionCodec_GZIP:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(src)); err == nil {
			n, err = readFull(zr, dst)
		}
	case pq.CompressionCodec_BROTLI:
		n, err = readFull(brotli.NewReader(bytes.NewReader(src)), dst)
	default:
		return nil, fmt.Errorf("unsupported compression %v", codec)
	}
	if err != nil {
		return nil, fmt.Errorf("%v: %w", codec, err)
	}
	if n != size {
		return nil, fmt.Errorf("%v: %d bytes decompressed, header says %d", codec, n, size)
	}
	return dst[:n], nil
}

// readFull reads exactly len(dst) bytes and checks that the stream ends.
func readFull(r io.Reader, dst []byte) (int, error) {
	n, err := io.ReadFull(r, dst)
	if err != nil {
		return n, err
	}
	var one [1]byte
	if m, _ := r.Read(one[:]); m > 0 {
		return n + 1, nil // more than the header says
	}
	return n, nil
}

// hadoopLZ4 reads the deprecated LZ4 codec: Hadoop's framing (big-endian
// decompressed and compressed sizes before each block), or, as some writers
// wrote it, one raw block.
func hadoopLZ4(src, dst []byte) (int, error) {
	n, s := 0, src
	for len(s) >= 8 {
		ul, cl := binary.BigEndian.Uint32(s), binary.BigEndian.Uint32(s[4:])
		if uint64(cl) > uint64(len(s)-8) || uint64(ul) > uint64(len(dst)-n) {
			break
		}
		m, err := lz4.UncompressBlock(s[8:8+cl], dst[n:n+int(ul)])
		if err != nil || m != int(ul) {
			break
		}
		n += m
		s = s[8+cl:]
		if len(s) == 0 {
			return n, nil
		}
	}
	return lz4.UncompressBlock(src, dst)
}

// grow returns b resized to n, reusing its storage when it is large enough.
func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}
