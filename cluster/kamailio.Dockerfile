# Kamailio 5.6 (Debian 12 package) as the cluster's SIP entry (docker-compose.yml: kamailio).
# Build from the repository root: docker build -f cluster/kamailio.Dockerfile .
FROM debian:bookworm

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kamailio \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /run/kamailio

COPY cluster/kamailio.cfg cluster/dispatcher.list /etc/kamailio/

# KAMAILIO_LISTEN: the address the carrier's SBCs send to (udp:ADDRESS:5060).
ENV KAMAILIO_LISTEN=udp:127.0.0.1:5060
CMD kamailio -f /etc/kamailio/kamailio.cfg -DD -E -A "LISTEN=$KAMAILIO_LISTEN"
