# Runs inside a Kiln sandbox: a non-root user, a private filesystem, no network.
import os
import platform
import socket

print(f"Hello from {socket.gethostname()}: Python {platform.python_version()}, uid {os.getuid()}")
print("Processes I can see:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("Network interfaces:", [name for _, name in socket.if_nameindex()])
try:
    open("/etc/shadow")
except OSError as error:
    print("Reading /etc/shadow:", error.strerror)
primes = [n for n in range(2, 60) if all(n % d for d in range(2, int(n**0.5) + 1))]
print("Primes below 60:", primes)
