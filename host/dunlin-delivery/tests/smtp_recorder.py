"""An aiosmtpd handler for Dunlin's email tests and bench.

Saves each accepted message's bytes as one file in the folder given as its argument (none:
accepts and drops), answers RCPT TO for the local part "reject" with 550 and for "busy"
with 451, so the tests see the server's permanent and temporary refusals.
"""

import os
import uuid


class Recorder:
    def __init__(self, folder=None):
        self.folder = folder

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(args[0] if args else None)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "reject":
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local == "busy":
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.folder:
            name = uuid.uuid4().hex
            temp = os.path.join(self.folder, "." + name + ".tmp")
            with open(temp, "wb") as f:
                f.write(envelope.original_content)
            os.rename(temp, os.path.join(self.folder, name + ".eml"))
        return "250 2.0.0 OK queued"
