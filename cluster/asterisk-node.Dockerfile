# One Asterisk node of a sanscode cluster, as a container (docker-compose.yml: asterisk,
# asterisk-b). The configuration is asterisk-conf/ rendered for the node by
# cluster/render-node-conf.sh (its own systemname, entity id, SIP/HTTP addresses, RTP range).
# Build from the repository root:
#   docker build -f cluster/asterisk-node.Dockerfile --build-arg NODE=b \
#     --build-arg NODE_SIP=127.0.0.3:5060 --build-arg NODE_HTTP=127.0.0.3:8288 \
#     --build-arg NODE_RTP=13000-13999 .
FROM debian:sid

ARG NODE
ARG NODE_SIP
ARG NODE_HTTP
ARG NODE_RTP

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules asterisk-core-sounds-en asterisk-core-sounds-fr \
 && rm -rf /var/lib/apt/lists/* \
 && mv /etc/asterisk /etc/asterisk.debian && mkdir /etc/asterisk

COPY asterisk-conf/ /tmp/sanscode/asterisk-conf/
COPY cluster/render-node-conf.sh /tmp/sanscode/cluster/

RUN set -e; \
    NODE="$NODE" NODE_SIP="$NODE_SIP" NODE_HTTP="$NODE_HTTP" NODE_RTP="$NODE_RTP" \
      bash /tmp/sanscode/cluster/render-node-conf.sh /etc/asterisk; \
    for dir in /tmp/sanscode/asterisk-conf/sounds/*/; do \
      lang="$(basename "$dir")"; \
      dest="$(readlink -f "/usr/share/asterisk/sounds/$lang")/sanscode"; \
      mkdir -p "$dest"; cp "$dir"sanscode/*.wav "$dest"/; \
    done; \
    rm -rf /tmp/sanscode; \
    mkdir -p /run/asterisk; \
    chown -R asterisk:asterisk /var/lib/asterisk /var/log/asterisk /var/spool/asterisk /run/asterisk

CMD ["asterisk", "-f", "-U", "asterisk", "-G", "asterisk"]
