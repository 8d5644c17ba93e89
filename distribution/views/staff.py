"""Staff's pages for accounts: users (search, create or invite, deactivate), groups and their
members, products and who holds which role on them; and each product's roles page, which its
maintainers share with staff.

Views parse, authorize and call distribution.services, which records each change in the audit log.
"""

import functools
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import BadRequest, PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from distribution import selectors, services
from distribution.forms import GroupCreateForm, RoleGrantForm, UserCreateForm, UsernameForm
from distribution.models import Product, ProductRole

User = get_user_model()
USERS_PER_PAGE = 50


def staff_only(view=None, *, name: str = "This page"):
    """Staff's pages: the sign-in page for the anonymous, the 403 page (which says the page's
    ``name``) for other users. ``@staff_only`` or ``@staff_only(name=...)``."""
    if view is None:
        return functools.partial(staff_only, name=name)

    @login_required
    @functools.wraps(view)
    def page(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied(f"{name} is for staff.")
        return view(request, *args, **kwargs)

    return page


def _change(request: HttpRequest, change: Callable[[], None], done: str) -> None:
    """A button's change, then its outcome as a message: ``done``, or why it was refused."""
    try:
        change()
    except services.AccessChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)


def _posted_user(request: HttpRequest):
    user_id = request.POST.get("user", "")
    if not user_id.isdigit():
        raise BadRequest("Name a user.")
    return get_object_or_404(User, pk=int(user_id))


@staff_only
def users(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").replace("\x00", "").strip()
    found = User.objects.order_by("username")
    if query:
        found = found.filter(
            Q(username__icontains=query)
            | Q(email__icontains=query)
            | Q(first_name__icontains=query)
            | Q(last_name__icontains=query)
        )
    page = Paginator(found, USERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "staff/users.html", {"page": page, "query": query})


@staff_only
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user, password = services.create_user(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                actor=request.user,
                request=request,
            )
        except services.AccessChangeRefused as exc:
            form.add_error("username", str(exc))
        else:
            if password is None:
                messages.success(request, f"{user.username} is invited: a link to set a password was mailed.")
                return redirect("staff-user", user.pk)
            # Shown in this answer alone, which no cache keeps: reloading it makes no second user.
            response = render(request, "staff/user_created.html", {"new_user": user, "password": password})
            patch_cache_control(response, private=True, no_store=True)
            return response
    return render(request, "staff/user_create.html", {"form": form})


@staff_only
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    return render(
        request,
        "staff/user_detail.html",
        {
            "person": person,
            "roles": person.product_roles.select_related("product").order_by("product__name"),
            "groups": person.groups.order_by("name"),
        },
    )


@require_POST
@staff_only
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    active = request.POST.get("active") == "1"
    _change(
        request,
        lambda: services.set_user_active(user=person, active=active, actor=request.user, request=request),
        f"{person.username} is {'reactivated' if active else 'deactivated'}.",
    )
    return redirect("staff-user", person.pk)


@staff_only
def groups(request: HttpRequest) -> HttpResponse:
    form = GroupCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.create_group(name=form.cleaned_data["name"], actor=request.user, request=request)
        except services.AccessChangeRefused as exc:
            form.add_error("name", str(exc))
        else:
            messages.success(request, f"The group {group.name} is made.")
            return redirect("staff-group", group.pk)
    listed = Group.objects.annotate(members=Count("user")).order_by("name")
    return render(request, "staff/groups.html", {"groups": listed, "form": form})


@staff_only
def group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=group_id)
    form = UsernameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        member = form.cleaned_data["username"]
        try:
            services.add_group_member(group=group, user=member, actor=request.user, request=request)
        except services.AccessChangeRefused as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(request, f"{member.username} is in {group.name}.")
            return redirect("staff-group", group.pk)
    return render(
        request,
        "staff/group_detail.html",
        {"group": group, "members": group.user_set.order_by("username"), "form": form},
    )


@require_POST
@staff_only
def group_remove(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=group_id)
    member = _posted_user(request)
    _change(
        request,
        lambda: services.remove_group_member(group=group, user=member, actor=request.user, request=request),
        f"{member.username} is no longer in {group.name}.",
    )
    return redirect("staff-group", group.pk)


@staff_only
def products(request: HttpRequest) -> HttpResponse:
    listed = Product.objects.annotate(
        maintainers=Count("roles", filter=Q(roles__role=ProductRole.Role.MAINTAINER)),
        publisher_count=Count("roles", filter=Q(roles__role=ProductRole.Role.PUBLISHER)),
    ).order_by("name")
    return render(request, "staff/products.html", {"products": listed})


def _maintained_product(request: HttpRequest, slug: str) -> Product:
    """The product, for its maintainers and staff; a 404 to whoever may not know it exists."""
    product = get_object_or_404(Product, slug=slug)
    if not product.can_maintain(request.user):
        if not product.can_publish(request.user) and not (
            selectors.visible_releases(request.user).filter(product=product).exists()
        ):
            raise Http404("No such product.")
        raise PermissionDenied("Its maintainers manage who publishes this product: ask one of them.")
    return product


@login_required
def product_roles(request: HttpRequest, slug: str) -> HttpResponse:
    product = _maintained_product(request, slug)
    form = RoleGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person, role = form.cleaned_data["username"], form.cleaned_data["role"]
        try:
            services.grant_role(product=product, user=person, role=role, actor=request.user, request=request)
        except services.AccessChangeRefused as exc:
            form.add_error("username", str(exc))
        else:
            messages.success(request, f"{person.username} is a {role} of {product.name}.")
            return redirect("product-roles", product.slug)
    return render(
        request,
        "staff/product_roles.html",
        {
            "product": product,
            "roles": product.roles.select_related("user").order_by("role", "user__username"),
            "form": form,
        },
    )


@require_POST
@login_required
def product_role_revoke(request: HttpRequest, slug: str) -> HttpResponse:
    product = _maintained_product(request, slug)
    person = _posted_user(request)
    _change(
        request,
        lambda: services.revoke_role(product=product, user=person, actor=request.user, request=request),
        f"{person.username} no longer has a role on {product.name}.",
    )
    return redirect("product-roles", product.slug)
