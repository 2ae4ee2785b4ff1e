# The systemd fleet host: the sshd image with systemd as PID 1. The entrypoint
# still makes the host key and authorized_keys, then execs systemd, which starts
# sshd through Debian's ssh.service.
FROM rollbook/fleet-sshd:bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd systemd-sysv dbus \
 && rm -rf /var/lib/apt/lists/* \
 && systemctl enable ssh.service \
 && systemctl mask getty.target console-getty.service systemd-logind.service \
 && : >/etc/machine-id
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]
