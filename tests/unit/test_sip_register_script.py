"""Unit tests of tests/sip_support/sip_register.py's reading of a SIP flow.

A real REGISTER over TLS meets Asterisk's own OPTIONS on the same connection
(it qualifies the new contact at once), sometimes before the 200 OK, and a TLS
stream may carry two messages in one read or one message in two. The flow is
a socket pair here, read as a stream, and the server's side writes what
Asterisk would.
"""

from __future__ import annotations

import pathlib
import socket
import threading

from role_scripts import load_script

sip = load_script(pathlib.Path(__file__).resolve().parents[1] / "sip_support" / "sip_register.py")

REGISTER = ("REGISTER sip:prova SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 REGISTER\r\n"
            "Content-Length: 0\r\n\r\n")
OPTIONS = ("OPTIONS sip:mayor@10.0.0.1:5061;transport=TLS SIP/2.0\r\nCall-ID: q\r\n"
           "CSeq: 17 OPTIONS\r\nContent-Length: 0\r\n\r\n")
TRYING = "SIP/2.0 100 Trying\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n"
OLD = "SIP/2.0 401 Unauthorized\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
OK = "SIP/2.0 200 OK\r\nCSeq: 2 REGISTER\r\nContent-Length: 4\r\n\r\nabcd"


def flow(datagrams=False):
    ours, theirs = socket.socketpair()
    ours.settimeout(2)
    connection = object.__new__(sip.Connection)
    connection.sock, connection.buffer, connection.datagrams = ours, "", datagrams
    return connection, theirs


def test_the_servers_own_requests_and_other_answers_are_skipped():
    connection, server = flow()
    server.sendall((OPTIONS + TRYING + OLD + OK[:30]).encode())
    # The rest of the 200 OK comes in a later read.
    threading.Timer(0.2, lambda: server.sendall(OK[30:].encode())).start()
    answer = connection.exchange(REGISTER)
    assert answer == OK
    assert server.recv(4096).decode() == REGISTER


def test_no_answer_is_none():
    connection, server = flow()
    connection.sock.settimeout(0.2)
    assert connection.exchange(REGISTER) is None
    server.close()


def test_a_flow_closed_after_a_request_of_the_server_is_none():
    connection, server = flow()
    server.sendall(OPTIONS.encode())
    threading.Timer(0.2, server.close).start()
    assert connection.exchange(REGISTER) is None


def test_a_datagram_is_one_message():
    connection, _server = flow(datagrams=True)
    connection.buffer = OK
    assert connection._next_message() == OK
