#!/usr/bin/python3
"""A pymodbus (Debian python3-pymodbus 3.0.x) slave for the driver's
integration tests: an independent Modbus implementation.

    pymodbus_server.py tcp                      listen on 127.0.0.1, a free port
    pymodbus_server.py rtu PATH BAUD PARITY     RTU slave on a serial port / pty

Slaves 1 and 2 exist, each with 300 of every kind (zero-based addresses);
other slave ids get no answer, addresses past 300 exception 2. Prints
"READY <port>" (tcp) or "READY" (rtu) once serving. Commands on stdin, one
per line, each answered with "OK ..." or "ERR ...":

    set SLAVE KIND ADDR V1,V2,...        KIND: co di hr ir
    get SLAVE KIND ADDR COUNT            -> OK V1,V2,...
    encode SLAVE KIND ADDR TYPE ORDER VALUE   pymodbus' payload builder
    decode SLAVE KIND ADDR TYPE ORDER         -> OK VALUE (repr)
    string SLAVE KIND ADDR NREGS TEXT

The process exits when stdin closes.
"""
import asyncio
import logging
import os
import sys
import threading

from pymodbus.constants import Endian
from pymodbus.datastore import (
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.payload import BinaryPayloadBuilder, BinaryPayloadDecoder
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer

SIZE = 300
KINDS = {"co": 1, "di": 2, "hr": 3, "ir": 4}
# (byteorder within a word, word order)
ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
}
TYPES = {
    "int16": "16bit_int", "uint16": "16bit_uint",
    "int32": "32bit_int", "uint32": "32bit_uint",
    "int64": "64bit_int", "uint64": "64bit_uint",
    "float32": "32bit_float", "float64": "64bit_float",
}


def new_slave():
    return ModbusSlaveContext(
        co=ModbusSequentialDataBlock(0, [False] * SIZE),
        di=ModbusSequentialDataBlock(0, [False] * SIZE),
        hr=ModbusSequentialDataBlock(0, [0] * SIZE),
        ir=ModbusSequentialDataBlock(0, [0] * SIZE),
        zero_mode=True,
    )


context = ModbusServerContext(slaves={1: new_slave(), 2: new_slave()}, single=False)


def command(line):
    f = line.split(" ", 6)
    op, slave, kind, addr = f[0], context[int(f[1])], KINDS[f[2]], int(f[3])
    if op == "set":
        vals = [int(v) for v in f[4].split(",")]
        slave.setValues(kind, addr, vals)
        return "OK"
    if op == "get":
        vals = slave.getValues(kind, addr, int(f[4]))
        return "OK " + ",".join(str(int(v)) for v in vals)
    if op == "string":
        n = int(f[4])
        raw = (f[5] if len(f) > 5 else "").encode().ljust(2 * n, b"\0")
        slave.setValues(kind, addr, [raw[i] << 8 | raw[i + 1] for i in range(0, 2 * n, 2)])
        return "OK"
    typ, (bo, wo) = TYPES[f[4]], ORDERS[f[5]]
    if op == "encode":
        b = BinaryPayloadBuilder(byteorder=bo, wordorder=wo)
        value = float(f[6]) if "float" in typ else int(f[6])
        getattr(b, "add_" + typ)(value)
        regs = b.to_registers()
        slave.setValues(kind, addr, regs)
        return "OK " + ",".join(str(r) for r in regs)
    if op == "decode":
        n = int(typ[:2]) // 16 if typ[0] != "1" else 1
        regs = slave.getValues(kind, addr, n)
        d = BinaryPayloadDecoder.fromRegisters(list(regs), byteorder=bo, wordorder=wo)
        return "OK " + repr(getattr(d, "decode_" + typ)())
    return "ERR unknown command"


def stdin_loop():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            out = command(line)
        except Exception as exc:  # report, keep serving
            out = "ERR " + repr(exc)
        print(out, flush=True)
    os._exit(0)


async def main():
    logging.basicConfig(level=logging.ERROR)
    mode = sys.argv[1]
    if mode == "tcp":
        server = await StartAsyncTcpServer(
            context=context, address=("127.0.0.1", 0), defer_start=True,
            allow_reuse_address=True, ignore_missing_slaves=True,
        )
        asyncio.create_task(server.serve_forever())
        await server.serving
        port = server.server.sockets[0].getsockname()[1]
        print(f"READY {port}", flush=True)
    else:
        path, baud, parity = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        server = await StartAsyncSerialServer(
            context=context, framer=ModbusRtuFramer, port=path, baudrate=baud,
            parity={"none": "N", "even": "E", "odd": "O"}[parity], bytesize=8, stopbits=1,
            defer_start=True, ignore_missing_slaves=True,
        )
        await server.start()
        if server.transport is None:
            print("ERR cannot open " + path, flush=True)
            os._exit(1)
        asyncio.create_task(server.serve_forever())
        print("READY", flush=True)
    threading.Thread(target=stdin_loop, daemon=True).start()
    await asyncio.Event().wait()


asyncio.run(main())
