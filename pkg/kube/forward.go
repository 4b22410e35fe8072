package kube

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/spdy"
)

// portForwardProtocol is the subprotocol of the pods' portforward subresource.
const portForwardProtocol = "portforward.k8s.io"

// DialPod upgrades a connection to the pod's portforward subresource
// through the API server (SPDY), as kubectl port-forward does: every
// connection to one of the pod's ports is then a pair of streams on it
// (ForwardStreams).
func DialPod(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, pod *corev1.Pod) (httpstream.Connection, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	u := client.CoreV1().RESTClient().Post().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("portforward").URL()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return nil, err
	}
	conn, protocol, err := spdy.Negotiate(upgrader, &http.Client{Transport: rt}, req, portForwardProtocol)
	if err != nil {
		return nil, fmt.Errorf("dialling pod %s: %w", pod.Name, err)
	}
	if protocol != portForwardProtocol {
		conn.Close()
		return nil, fmt.Errorf("dialling pod %s: the API server answered protocol %q, not %q", pod.Name, protocol, portForwardProtocol)
	}
	return conn, nil
}

// ForwardStreams opens the error and data streams of one forwarded
// connection to port, as the portforward protocol has them: same port and
// requestID, the error stream first; nothing is written to the error
// stream, which carries the runtime's message when it cannot connect.
func ForwardStreams(conn httpstream.Connection, port int, requestID int64) (data, errStream httpstream.Stream, err error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(requestID, 10))
	if errStream, err = conn.CreateStream(h); err != nil {
		return nil, nil, err
	}
	errStream.Close()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	if data, err = conn.CreateStream(h); err != nil {
		conn.RemoveStreams(errStream)
		return nil, nil, err
	}
	return data, errStream, nil
}
