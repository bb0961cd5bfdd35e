package ontap

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// network is how a cluster is on the network: answering, refusing connections (off the
// network), or black-holed (connections are accepted and never answered, as when a site's
// firewall or a partition drops the packets: clients hang until their own timeouts).
type network int

const (
	answering network = iota
	refusing
	blackHoled
)

// SetBlackHoled makes the cluster accept connections and never answer them (true), or
// brings it back on the same address (false). Its clients see their requests time out, not
// refused; its peers cannot reach it either, so transfers from it fail.
func (c *Cluster) SetBlackHoled(on bool) error {
	if on {
		return c.setNetwork(blackHoled)
	}
	return c.setNetwork(answering)
}

// blackHole holds the connections a black-holed cluster accepted, unanswered, until it is
// answering again.
type blackHole struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (h *blackHole) accept() {
	for {
		conn, err := h.ln.Accept()
		if err != nil {
			return // closed: the cluster answers again, or refuses
		}
		h.mu.Lock()
		h.conns = append(h.conns, conn)
		h.mu.Unlock()
	}
}

func (h *blackHole) close() {
	_ = h.ln.Close() // the listener only held connections
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, conn := range h.conns {
		_ = conn.Close() // cut, as a partition that heals resets stale connections
	}
}

// setNetwork puts the cluster in a mode: it stops serving (or black-holing; stop), then listens
// again on its address, unless it is to refuse.
func (c *Cluster) setNetwork(mode network) error {
	c.stop()
	c.fabric.mu.Lock()
	c.down = mode != answering
	c.fabric.mu.Unlock()
	if mode == refusing {
		return nil
	}
	var ln net.Listener
	var err error
	for range 50 { // the port may linger briefly after close
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("bring %s back on %s: %w", c.name, c.addr, err)
	}
	if mode == blackHoled {
		h := &blackHole{ln: ln}
		c.srvMu.Lock()
		c.hole = h
		c.srvMu.Unlock()
		go h.accept()
		return nil
	}
	c.serve(ln)
	return nil
}
