#!/usr/bin/env python3
"""Write an unsigned APPX/MSIX package around a large payload, for benches/compare.sh.

    benches/appx_package.py PAYLOAD OUT.msix PUBLISHER

PAYLOAD is stored (not compressed) as payload.bin, with an AppxManifest.xml whose Identity
Publisher is PUBLISHER and an AppxBlockMap.xml (SHA-256) that matches it block by block; the
[Content_Types].xml comes last, as makeappx writes it. Only the standard library is used.
"""
import base64, hashlib, sys, zipfile

payload, out, publisher = sys.argv[1:4]
BLOCK = 65536

def block_map_file(name, path):
    hashes = []
    size = 0
    with open(path, 'rb') as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                break
            size += len(b)
            hashes.append(base64.b64encode(hashlib.sha256(b).digest()).decode())
    lfh = 30 + len(name)
    blocks = ''.join('<Block Hash="%s"/>' % h for h in hashes)
    return '<File Name="%s" Size="%d" LfhSize="%d">%s</File>' % (name, size, lfh, blocks)

manifest = ('<?xml version="1.0" encoding="utf-8"?>'
            '<Package xmlns="http://schemas.microsoft.com/appx/manifest/foundation/windows10">'
            '<Identity Name="authsign.bench" Publisher="%s" Version="1.0.0.0"/>'
            '<Properties><DisplayName>bench</DisplayName><PublisherDisplayName>authsign</PublisherDisplayName>'
            '<Logo>payload.bin</Logo></Properties></Package>' % publisher.replace('"', '&quot;'))
manifest_bytes = manifest.encode()

with zipfile.ZipFile(out, 'w') as z:
    z.write(payload, 'payload.bin', compress_type=zipfile.ZIP_STORED)
    z.writestr(zipfile.ZipInfo('AppxManifest.xml', (2024, 1, 1, 0, 0, 0)), manifest_bytes,
               compress_type=zipfile.ZIP_DEFLATED)
    m_hash = base64.b64encode(hashlib.sha256(manifest_bytes).digest()).decode()
    # The manifest's one block carries its compressed size, known once it is written.
    info = z.getinfo('AppxManifest.xml')
    bm = ('<?xml version="1.0" encoding="UTF-8"?>'
          '<BlockMap xmlns="http://schemas.microsoft.com/appx/2010/blockmap" '
          'HashMethod="http://www.w3.org/2001/04/xmlenc#sha256">'
          + block_map_file('payload.bin', payload)
          + '<File Name="AppxManifest.xml" Size="%d" LfhSize="%d"><Block Hash="%s" Size="%d"/></File>'
          % (len(manifest_bytes), 30 + len('AppxManifest.xml'), m_hash, info.compress_size)
          + '</BlockMap>')
    z.writestr(zipfile.ZipInfo('AppxBlockMap.xml', (2024, 1, 1, 0, 0, 0)), bm.encode(),
               compress_type=zipfile.ZIP_DEFLATED)
    ct = ('<?xml version="1.0" encoding="UTF-8"?>'
          '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
          '<Default Extension="bin" ContentType="application/octet-stream"/>'
          '<Override PartName="/AppxManifest.xml" ContentType="application/vnd.ms-appx.manifest+xml"/>'
          '<Override PartName="/AppxBlockMap.xml" ContentType="application/vnd.ms-appx.blockmap+xml"/>'
          '</Types>')
    z.writestr(zipfile.ZipInfo('[Content_Types].xml', (2024, 1, 1, 0, 0, 0)), ct.encode(),
               compress_type=zipfile.ZIP_DEFLATED)
