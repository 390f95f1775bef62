#!/usr/bin/env python3
"""A minimal SMTP receiver for the benches (Python stdlib, asyncio).

Usage: smtp_sink.py LOG PORTFILE

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening),
accepts every message, and appends one line per message to LOG, flushed at
once: `SUBJECT<TAB>RECIPIENTS`. It speaks what lettre's pooled client sends
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT); no TLS, no AUTH.
"""
import asyncio
import email.parser
import email.policy
import os
import sys

PARSER = email.parser.BytesHeaderParser(policy=email.policy.default)


async def session(reader, writer, log):
    def say(line):
        writer.write(line.encode() + b"\r\n")

    say("220 bench-sink ESMTP")
    rcpts = []
    try:
        while line := await asyncio.wait_for(reader.readline(), 120):
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                say("250-bench-sink\r\n250-PIPELINING\r\n250 8BITMIME")
            elif verb == b"MAIL":
                rcpts = []
                say("250 ok")
            elif verb == b"RCPT":
                rcpts.append(line[8:].strip().strip(b"<>").decode())
                say("250 ok")
            elif verb == b"DATA":
                say("354 go on")
                await writer.drain()
                lines = []
                while (body := await reader.readline()) not in (b".\r\n", b".\n", b""):
                    lines.append(body[1:] if body.startswith(b"..") else body)
                subject = PARSER.parsebytes(b"".join(lines)).get("subject", "")
                log.write(f"{' '.join(str(subject).split())}\t{','.join(rcpts)}\n")
                log.flush()
                say("250 queued")
            elif verb == b"QUIT":
                say("221 bye")
                break
            else:  # RSET, NOOP and anything else
                rcpts = [] if verb == b"RSET" else rcpts
                say("250 ok")
            await writer.drain()
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    log = open(sys.argv[1], "a", encoding="utf-8")
    server = await asyncio.start_server(
        lambda r, w: session(r, w, log), "127.0.0.1", 0, limit=1 << 20)
    with open(sys.argv[2] + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
